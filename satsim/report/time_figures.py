"""Figures of where a run's time goes (``satsim run --json``): each unit's busy cycles stacked
by phase (breakdown), each unit's busy share and the array's MAC utilization per layer
(utilization), and each GEMM's MAC rate against the array's and the DRAM's ceilings
(roofline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from satsim.errors import SatsimError
from satsim.report.canvas import DOUBLE, SINGLE, new_figure, paper_style, tag_bars
from satsim.report.documents import array_pes, need, run_title
from satsim.report.result import PHASES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PHASE_UNIT = {"FF": "stce", "BP": "stce", "WG": "stce", "MASK": "sore", "VEC": "vector",
              "WU": "vector"}
UNIT_NAMES = {"stce": "array (STCE)", "sore": "mask gen. (SORE)", "vector": "vector unit",
              "dram": "DRAM"}
PHASE_COLOURS = {"FF": "#4C72B0", "BP": "#55A868", "WG": "#C44E52", "MASK": "#8172B2",
                 "VEC": "#CCB974", "WU": "#64B5CD"}


def _mega(value: float) -> float:
    return value / 1e6


def breakdown_data(doc: dict, source: str = "run result") -> dict[str, dict[str, int]]:
    """Per unit (in drawing order), its phases' busy cycles: ``{unit: {phase: cycles}}``."""
    phases = need(doc, source, "phases")
    data: dict[str, dict[str, int]] = {}
    for phase in PHASES:
        if phase in phases:
            unit = phases[phase].get("unit", PHASE_UNIT[phase])
            data.setdefault(unit, {})[phase] = int(need(doc, source, "phases", phase,
                                                         "busy_cycles"))
    if not data:
        raise SatsimError("no phases to plot", source=source, field="phases")
    return data


def breakdown_figure(doc: dict, source: str = "run result") -> Figure:
    """Each unit's busy cycles stacked by phase, and the iteration's length (units overlap,
    so the stacks of different units add up to more than the iteration)."""
    data = breakdown_data(doc, source)
    cycles = int(need(doc, source, "cycles"))
    units = [u for u in ("stce", "sore", "vector") if u in data] + \
        [u for u in data if u not in ("stce", "sore", "vector")]
    with paper_style():
        fig = new_figure((SINGLE[0], SINGLE[1] + 0.2))  # the phase legend below
        ax = fig.add_subplot()
        ys = list(range(len(units)))[::-1]  # the array on top
        for phase in PHASES:
            lefts, widths, rows = [], [], []
            for y, unit in zip(ys, units, strict=True):
                if phase in data[unit]:
                    before = sum(data[unit][p] for p in PHASES[: PHASES.index(phase)]
                                 if p in data[unit])
                    lefts.append(_mega(before))
                    widths.append(_mega(data[unit][phase]))
                    rows.append(y)
            if rows:
                tag_bars(ax.barh(rows, widths, left=lefts, height=0.6, color=PHASE_COLOURS[phase],
                             label=phase, zorder=2), f"breakdown-{phase}")
        ax.axvline(_mega(cycles), color="black", linestyle="--", linewidth=0.8, zorder=3)
        ax.text(_mega(cycles), len(units) - 0.45, f" iteration\n {_mega(cycles):,.1f} M",
                va="top", ha="left", fontsize=7)
        ax.set_yticks(ys, [UNIT_NAMES.get(u, u) for u in units])
        ax.set_xlabel("busy cycles (millions)")
        ax.set_xlim(0, _mega(cycles) * 1.3)
        ax.set_ylim(-0.6, len(units) - 0.2)
        fig.legend(loc="outside lower center", ncol=6, frameon=False, handlelength=1.0,
                   columnspacing=0.9, handletextpad=0.4)
        ax.set_title(run_title(doc))
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    return fig


def layer_utilization(doc: dict, source: str = "run result") -> tuple[list[str],
                                                                      dict[str, list]]:
    """The array's MAC utilization while busy, per layer (trace order) and GEMM phase:
    executed MACs / (busy cycles x PEs of an array: busy cycles are summed over the arrays);
    ``None`` where a layer has no GEMM of that phase."""
    pes = array_pes(doc, source, each=True)
    sums: dict[tuple[str, str], list[int]] = {}
    layers: list[str] = []
    for op in sorted(need(doc, source, "ops"), key=lambda o: o["index"]):
        if op["unit"] != "stce" or op["phase"] not in ("FF", "BP", "WG"):
            continue
        if op["layer"] not in layers:
            layers.append(op["layer"])
        acc = sums.setdefault((op["layer"], op["phase"]), [0, 0])
        acc[0] += op["macs"]
        acc[1] += op["busy_cycles"]
    values = {phase: [None if (layer, phase) not in sums or not sums[layer, phase][1]
                      else sums[layer, phase][0] / (sums[layer, phase][1] * pes)
                      for layer in layers] for phase in ("FF", "BP", "WG")}
    return layers, values


def utilization_figure(doc: dict, source: str = "run result") -> Figure:
    """Left: each unit's busy share of the iteration. Right: the array's MAC utilization
    while busy, per layer and GEMM phase."""
    units = need(doc, source, "units")
    layers, values = layer_utilization(doc, source)
    with paper_style():
        fig = new_figure(DOUBLE)
        left, right = fig.subplots(1, 2, width_ratios=[1, 3.2])
        names = [u for u in ("stce", "sore", "vector", "dram") if u in units]
        shares = [100 * units[u]["utilization"] for u in names]
        ys = list(range(len(names)))[::-1]
        tag_bars(left.barh(ys, shares, 0.6, color="0.45", zorder=2), "utilization-units")
        for y, share in zip(ys, shares, strict=True):
            left.text(share + 2, y, f"{share:.0f}%", va="center", fontsize=7)
        left.set_yticks(ys, [UNIT_NAMES.get(u, u) for u in names])
        left.set_xlim(0, 119)
        left.set_xticks([0, 25, 50, 75, 100])
        left.set_xlabel("busy share of iteration (%)")
        left.set_title("per unit")
        left.grid(True, axis="x", alpha=0.3)
        left.set_axisbelow(True)
        _layer_panel(right, layers, values)
        fig.suptitle(run_title(doc), fontsize=8)
    return fig


def _layer_panel(ax: Axes, layers: list[str], values: dict[str, list]) -> None:
    xs = list(range(len(layers)))
    if not layers:
        ax.text(0.5, 0.5, "no GEMMs on the array", transform=ax.transAxes, ha="center")
    for phase, marker in (("FF", "o"), ("BP", "s"), ("WG", "^")):
        # NaN where a layer has no GEMM of this phase: a gap in the line, not a bridge
        ys = [float("nan") if v is None else 100 * v for v in values[phase]]
        if any(v is not None for v in values[phase]):
            ax.plot(xs, ys, marker=marker, markersize=3, linewidth=0.8,
                    color=PHASE_COLOURS[phase], label=phase, gid=f"utilization-{phase}")
    step = max(1, -(-len(layers) // 30))  # at most ~30 readable tick labels
    ax.set_xticks(xs[::step], [_short_layer(n) for n in layers[::step]], rotation=60,
                  ha="right", rotation_mode="anchor", fontsize=7)
    ax.set_xlim(-0.7, len(layers) - 0.3)
    ax.set_ylim(0, 105)
    ax.set_xlabel("layer (trace order)")
    ax.set_ylabel("array MAC utilization\nwhile busy (%)")
    ax.set_title("array, per layer")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="phase",
              handlelength=1.5)
    ax.grid(True, alpha=0.3)
    ax.set_axisbelow(True)


def _short_layer(name: str) -> str:
    """A layer name for a tick label: at most 22 characters, the end kept."""
    name = str(name)
    return name if len(name) <= 22 else "…" + name[-21:]


@dataclass(frozen=True)
class Roofline:
    """The points and ceilings of a roofline plot."""

    intensity: list[float]  # MACs per DRAM byte, per GEMM
    rate: list[float]  # executed MACs per second, per GEMM
    phase: list[str]
    peak: float  # MACs/s: rows x cols x clock
    bandwidth: float | None  # DRAM bytes/s (None: ideal memory)
    bandwidth_note: str
    without_traffic: int  # GEMMs that moved no DRAM byte (not drawn)


def roofline_data(doc: dict, source: str = "run result") -> Roofline:
    """Per GEMM op: intensity = MACs / (DRAM bytes read + written), rate = MACs / (op cycles /
    clock); the array's peak = rows x cols x clock; the DRAM ceiling = channels x GB/s per
    channel x efficiency (from ``hardware_config``)."""
    hw = need(doc, source, "hardware_config")
    clock_hz = float(need(doc, source, "hardware_config", "clock_mhz")) * 1e6
    peak = array_pes(doc, source) * clock_hz
    memory = hw.get("memory")
    bandwidth, note = None, "ideal memory"
    if isinstance(memory, dict) and isinstance(memory.get("dram"), dict):
        dram = memory["dram"]
        bandwidth = (dram["channels"] * dram["gbps_per_channel"] * dram.get("efficiency", 1.0)
                     * 1e9)
        note = (f"DRAM {bandwidth / 1e9:.4g} GB/s ({dram['channels']} x "
                f"{dram['gbps_per_channel']:g} GB/s x {100 * dram.get('efficiency', 1.0):g}%)")
    xs, ys, phases, skipped = [], [], [], 0
    for op in sorted(need(doc, source, "ops"), key=lambda o: o["index"]):
        if op["unit"] != "stce" or not op["macs"] or not op["cycles"]:
            continue
        moved = op["dram_read_bytes"] + op["dram_write_bytes"]
        if not moved:
            skipped += 1
            continue
        xs.append(op["macs"] / moved)
        ys.append(op["macs"] / (op["cycles"] / clock_hz))
        phases.append(op["phase"])
    if not xs:
        why = ("the memory is ideal: no GEMM moves DRAM bytes, so intensity is unbounded"
               if skipped else "no GEMM on the array")
        raise SatsimError(f"nothing to draw on a roofline: {why}", source=source, field="ops")
    return Roofline(xs, ys, phases, peak, bandwidth, note, skipped)


def roofline_figure(doc: dict, source: str = "run result") -> Figure:
    """Achieved MAC rate against operational intensity per GEMM, under the array's peak and
    the DRAM bandwidth line (log-log)."""
    data = roofline_data(doc, source)
    import numpy as np

    with paper_style():
        fig = new_figure(SINGLE)
        ax = fig.add_subplot()
        lo = min(data.intensity) / 3
        hi = max(data.intensity) * 3
        if data.bandwidth is not None:
            ridge = data.peak / data.bandwidth
            lo, hi = min(lo, ridge / 3), max(hi, ridge * 3)
        grid = np.geomspace(lo, hi, 200)
        roof = np.full_like(grid, data.peak)
        if data.bandwidth is not None:
            roof = np.minimum(roof, data.bandwidth * grid)
        ax.plot(grid, roof / 1e9, color="black", linewidth=1.2, zorder=2, gid="roofline-roof")
        for phase, marker in (("FF", "o"), ("BP", "s"), ("WG", "^")):
            pts = [(x, y) for x, y, p in zip(data.intensity, data.rate, data.phase, strict=True)
                   if p == phase]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] / 1e9 for p in pts], s=10, marker=marker,
                           color=PHASE_COLOURS[phase], label=phase, alpha=0.85, linewidths=0,
                           zorder=3, gid=f"roofline-{phase}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        top = data.peak / 1e9
        low_rate = min(data.rate) / 1e9
        ax.set_ylim(min(low_rate / 2, top / 20), top * 2.5)
        ax.text(hi / 1.15, top * 1.15, f"array peak {top:.4g} GMAC/s", ha="right", va="bottom",
                fontsize=7)
        if data.bandwidth is not None:
            ax.text(lo * 1.15, top * 2.3, data.bandwidth_note.replace(" (", "\n("),
                    ha="left", va="top", fontsize=7)
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("operational intensity (MACs per DRAM byte)")
        ax.set_ylabel("achieved MAC rate (GMAC/s)")
        n = data.without_traffic
        note = f"\n({n} GEMM{'s' if n > 1 else ''} without DRAM traffic not shown)" \
            if data.without_traffic else ""
        ax.set_title(run_title(doc) + note)
        ax.legend(loc="lower right", frameon=True, framealpha=0.9, title="GEMM phase",
                  handletextpad=0.2)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_axisbelow(True)
    return fig
