"""Paper-sized figures of one run (``satsim run --json``) or one comparison
(``satsim compare --json``): ``satsim plot KIND INPUT --out FILE``.

Kinds and their input:

- ``speedup`` (compare): speedup over dense training per model and method, with each
  method's uniform bound and the trace's MAC-proportional ideal;
- ``breakdown`` (run): each unit's busy cycles stacked by phase (FF, BP, WG on the array,
  MASK on the SORE, VEC and WU on the vector unit), against the iteration's length;
- ``energy`` (run): the iteration's energy per phase stacked by unit (each op's actions
  priced with the run's own prices, the static energy as its own bar); units whose every
  term is unpriced are n/a, never 0;
- ``utilization`` (run): each unit's busy share of the iteration, and the array's MAC
  utilization per layer and GEMM phase;
- ``roofline`` (run): per GEMM, operational intensity (MACs per DRAM byte) against achieved
  MAC rate (executed MACs / the op's time), under the array's peak and the DRAM bandwidth.

Each figure is built from the JSON document alone (its ``hardware_config`` gives the array
and the DRAM), drawn on matplotlib's Agg canvas (never ``pyplot``, as
:mod:`satsim.report.plots`), at paper-figure size with fonts of at least 7 pt, and written
deterministically (no dates, fixed SVG ids).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from satsim.energy.breakdown import EVERY_TERM, coverage
from satsim.errors import SatsimError
from satsim.files import read_text, write_atomic
from satsim.report.plots import _NO_DATE, format_of
from satsim.report.summary import energy_name, energy_total, joules

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RUN = "satsim run --json result"
COMPARE = "satsim compare --json file"
PHASES = ("FF", "BP", "WG", "MASK", "VEC", "WU")
PHASE_UNIT = {"FF": "stce", "BP": "stce", "WG": "stce", "MASK": "sore", "VEC": "vector",
              "WU": "vector"}
UNIT_NAMES = {"stce": "array (STCE)", "sore": "mask gen. (SORE)", "vector": "vector unit",
              "dram": "DRAM"}
PHASE_COLOURS = {"FF": "#4C72B0", "BP": "#55A868", "WG": "#C44E52", "MASK": "#8172B2",
                 "VEC": "#CCB974", "WU": "#64B5CD"}
METHOD_COLOURS = {"srste": "#DD8452", "bdwp": "#4C72B0"}
METHOD_NAMES = {"srste": "SR-STE", "bdwp": "BDWP"}

SINGLE = (3.5, 2.6)  # one paper column, inches
DOUBLE = (7.0, 3.0)  # two columns
# Fonts at least 7 pt at print size; the same everywhere.
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
         "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
         "grid.linewidth": 0.4, "svg.hashsalt": "satsim", "svg.fonttype": "path",
         "pdf.fonttype": 42}


@dataclass(frozen=True)
class Kind:
    """A plot kind: what it draws, from which input."""

    name: str
    needs: str  # RUN or COMPARE
    what: str
    draw: Callable[[dict, str], Figure]


def load_input(path: str | Path) -> tuple[str, dict]:
    """A JSON file written by ``satsim run --json`` or ``satsim compare --json``.

    Returns
    -------
    (str, dict)
        Which of the two it is (:data:`RUN` or :data:`COMPARE`) and the document.

    Raises
    ------
    SatsimError
        The file cannot be read, is not JSON, or is neither document.
    """
    text = read_text(Path(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SatsimError(f"not JSON (line {exc.lineno}: {exc.msg}); expected a {RUN} or a "
                          f"{COMPARE}", source=path) from None
    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("satsim.result/"):
        return RUN, doc
    if isinstance(doc, dict) and "models" in doc and "mean_speedup" in doc:
        return COMPARE, doc
    what = f"schema {doc['schema']!r}" if isinstance(doc, dict) and "schema" in doc else \
        "no 'schema' and no 'models'"
    raise SatsimError(f"neither a {RUN} nor a {COMPARE} ({what})", source=path)


def _need(doc: dict, source: str, *path: str):
    """``doc[path[0]][path[1]]...``; an error naming the field if it is missing."""
    value = doc
    for i, key in enumerate(path):
        if not isinstance(value, dict) or key not in value:
            raise SatsimError("missing (is this file from an older satsim?)", source=source,
                              field=".".join(path[: i + 1]))
        value = value[key]
    return value


@contextmanager
def _style():
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str, dpi: int = 300) -> bytes:
    """The figure encoded as ``png``, ``svg`` or ``pdf``, the same bytes for the same
    figure."""
    import io

    handle = io.BytesIO()
    with _style():
        fig.savefig(handle, format=fmt, metadata=_NO_DATE[fmt], dpi=dpi)
    return handle.getvalue()


def save(fig: Figure, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` (format from its suffix), whole or not at all."""
    fmt = format_of(out)
    data = figure_bytes(fig, fmt)
    return write_atomic(out, lambda handle: handle.write(data))


def _tag(bars, name: str) -> None:
    """Name each bar ``name/i`` (its SVG id): tests and readers of the SVG find them."""
    for i, patch in enumerate(bars.patches):
        patch.set_gid(f"{name}/{i}")


def _title(doc: dict) -> str:
    sparsity = doc.get("sparsity", "")
    method = doc.get("method", "")
    run = method if sparsity in ("dense", "") else f"{method} {sparsity}"
    return f"{doc.get('workload', '?')}, {run}, on {doc.get('hardware', '?')}"


def _mega(value: float) -> float:
    return value / 1e6


# --- speedup (compare) ---------------------------------------------------------------------


def speedup_figure(doc: dict, source: str = "compare result") -> Figure:
    """Speedup over dense per model: a bar per model and method, the method's uniform bound
    (a line over the bar) and the MAC-proportional ideal of the trace (a diamond)."""
    models = _need(doc, source, "models")
    if not models:
        raise SatsimError("no models to plot", source=source, field="models")
    methods = [m for m in ("srste", "bdwp") if all(m in row for row in models)]
    if not methods:
        raise SatsimError("no srste or bdwp results per model", source=source, field="models")
    names = [str(row.get("model", "?")) for row in models]
    with _style():
        fig = _figure(SINGLE)
        ax = fig.add_subplot()
        width = 0.8 / len(methods)
        for j, method in enumerate(methods):
            xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(models))]
            runs = [row[method] for row in models]
            _tag(ax.bar(xs, [r["speedup"] for r in runs], width * 0.92,
                        color=METHOD_COLOURS.get(method),
                        label=METHOD_NAMES.get(method, method), zorder=2), f"speedup-{method}")
            for x, r in zip(xs, runs, strict=True):
                if r.get("uniform") is not None:
                    ax.hlines(r["uniform"], x - width * 0.46, x + width * 0.46, colors="black",
                              linewidth=1.0, zorder=3)
                ax.plot([x], [r["mac_ideal"]], marker="D", markersize=2.8, color="black",
                        linestyle="none", zorder=4)
        ax.axhline(1.0, color="0.3", linewidth=0.6, zorder=1)
        paper = doc.get("paper_mean_bdwp")
        if paper is not None:
            ax.axhline(paper, color="0.3", linewidth=0.8, linestyle="--", zorder=1)
        # Legend entries for the marks (drawn once, as proxies).
        from matplotlib.lines import Line2D

        handles, labels = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="black", linewidth=1.0),
                    Line2D([], [], color="black", marker="D", markersize=2.8,
                           linestyle="none")]
        labels += ["uniform bound", "MAC ideal"]
        if paper is not None:
            handles.append(Line2D([], [], color="0.3", linewidth=0.8, linestyle="--"))
            labels.append(f"paper mean {paper:g}x")
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0),
                  ncol=min(len(labels), 3), frameon=False, handlelength=1.5,
                  columnspacing=1.0)
        top = max([2.0] + [r[m]["uniform"] or 0 for r in models for m in methods]
                  + [r[m]["mac_ideal"] for r in models for m in methods])
        ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
        ax.set_xticks(range(len(models)), [_short(n) for n in names], rotation=25,
                      ha="right", rotation_mode="anchor")
        ax.set_ylabel("speedup over dense (x)")
        ax.set_title(f"{doc.get('sparsity', '')} on {doc.get('hardware', '?')}, "
                     f"dataflow {doc.get('dataflow', '?')}")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    return fig


def _short(model: str) -> str:
    """A model name for a tick label: the dataset suffix dropped (resnet18-cifar -> resnet18)."""
    for suffix in ("-cifar", "-imagenet"):
        if model.endswith(suffix):
            return model[: -len(suffix)]
    return model


# --- breakdown (run) -----------------------------------------------------------------------


def breakdown_data(doc: dict, source: str = "run result") -> dict[str, dict[str, int]]:
    """Per unit (in drawing order), its phases' busy cycles: ``{unit: {phase: cycles}}``."""
    phases = _need(doc, source, "phases")
    data: dict[str, dict[str, int]] = {}
    for phase in PHASES:
        if phase in phases:
            unit = phases[phase].get("unit", PHASE_UNIT[phase])
            data.setdefault(unit, {})[phase] = int(_need(doc, source, "phases", phase,
                                                         "busy_cycles"))
    if not data:
        raise SatsimError("no phases to plot", source=source, field="phases")
    return data


def breakdown_figure(doc: dict, source: str = "run result") -> Figure:
    """Each unit's busy cycles stacked by phase, and the iteration's length (units overlap,
    so the stacks of different units add up to more than the iteration)."""
    data = breakdown_data(doc, source)
    cycles = int(_need(doc, source, "cycles"))
    units = [u for u in ("stce", "sore", "vector") if u in data] + \
        [u for u in data if u not in ("stce", "sore", "vector")]
    with _style():
        fig = _figure((SINGLE[0], SINGLE[1] + 0.2))  # the phase legend below
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
                _tag(ax.barh(rows, widths, left=lefts, height=0.6, color=PHASE_COLOURS[phase],
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
        ax.set_title(_title(doc))
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    return fig


# --- energy (run) --------------------------------------------------------------------------


def energy_data(doc: dict, source: str = "run result") -> tuple[list[str], dict[str, dict]]:
    """The iteration's energy per phase and unit, in J.

    Returns
    -------
    (list of str, dict)
        The units of ``energy.by_unit`` (its order), and per bar (the phases present, then
        ``static``) ``{unit: joules or None}``: a phase's dynamic energy, the sum of its ops'
        ``energy_by_unit``; the static energy from ``energy.static``. ``None``: every term of
        it unpriced (n/a).

    Raises
    ------
    SatsimError
        The run has no energy table.
    """
    energy = _need(doc, source, "energy")
    if energy is None:
        raise SatsimError("no energy in this run: its hardware names no energy table (run "
                          "with --set energy=asic-45nm)", source=source, field="energy")
    units = list(_need(doc, source, "energy", "by_unit"))
    static = _need(doc, source, "energy", "static")
    bars: dict[str, dict] = {}
    for op in _need(doc, source, "ops"):
        into = bars.setdefault(op["phase"], {})
        for unit, spent in (op.get("energy_by_unit") or {}).items():
            if spent is None:
                into.setdefault(unit, None)
            else:
                into[unit] = (into.get(unit) or 0.0) + spent
    ordered = {p: bars[p] for p in PHASES if p in bars}
    ordered |= {p: v for p, v in bars.items() if p not in ordered}
    ordered["static"] = dict(static)
    return units, ordered


def energy_figure(doc: dict, source: str = "run result") -> Figure:
    """The iteration's energy per phase, stacked by unit; the legend gives each unit's total
    (``energy.by_unit``) or n/a."""
    units, bars = energy_data(doc, source)
    by_unit = doc["energy"]["by_unit"]
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    colours = {u: palette(i % 10) for i, u in enumerate(units)}
    with _style():
        fig = _figure((SINGLE[0], 3.6))  # the legend below the bars
        ax = fig.add_subplot()
        names = list(bars)
        bottoms = [0.0] * len(names)
        for unit in units:
            heights = [1e3 * (bars[b].get(unit) or 0.0) for b in names]
            spent = by_unit.get(unit)
            label = f"{_unit_label(unit)}: {energy_label(spent)}"
            _tag(ax.bar(range(len(names)), heights, 0.7, bottom=bottoms, color=colours[unit],
                        label=label, zorder=2), f"energy-{unit}")
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right",
                      rotation_mode="anchor")
        ax.set_xlabel("phase (static: the whole iteration's)")
        covers = energy_coverage(doc)
        ax.set_ylabel(energy_name(covers == EVERY_TERM, "mJ"))
        ax.set_ylim(0, max(max(bottoms), 1e-12) * 1.05)
        total = energy_total(doc.get("energy_j"), covers, ".3g")
        ax.set_title(_title(doc) + "\n" + "\n".join(textwrap.wrap(total, 56)))
        for i, name in enumerate(names):  # a bar with nothing priced says so
            if all(v is None for v in bars[name].values()) and bars[name]:
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7, color="0.3")
        fig.legend(loc="outside lower center", ncol=2, frameon=False,
                   title="unit: its energy in the iteration", handlelength=1.0,
                   columnspacing=1.0)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if all(h == 0 for h in bottoms):
            ax.text(0.5, 0.5, "no priced energy (every term n/a)", transform=ax.transAxes,
                    ha="center", va="center")
    return fig


def _unit_label(unit: str) -> str:
    return f"buffer {unit.split(':', 1)[1]}" if unit.startswith("buffer:") else \
        {"stce": "STCE", "sore": "SORE", "vector": "vector", "dram": "DRAM"}.get(unit, unit)


# --- utilization (run) ---------------------------------------------------------------------


def _pes(doc: dict, source: str) -> int:
    array = _need(doc, source, "hardware_config", "array")
    return int(array["rows"]) * int(array["cols"])


def layer_utilization(doc: dict, source: str = "run result") -> tuple[list[str],
                                                                      dict[str, list]]:
    """The array's MAC utilization while busy, per layer (trace order) and GEMM phase:
    executed MACs / (busy cycles x PEs); ``None`` where a layer has no GEMM of that phase."""
    pes = _pes(doc, source)
    sums: dict[tuple[str, str], list[int]] = {}
    layers: list[str] = []
    for op in sorted(_need(doc, source, "ops"), key=lambda o: o["index"]):
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
    units = _need(doc, source, "units")
    layers, values = layer_utilization(doc, source)
    with _style():
        fig = _figure(DOUBLE)
        left, right = fig.subplots(1, 2, width_ratios=[1, 3.2])
        names = [u for u in ("stce", "sore", "vector", "dram") if u in units]
        shares = [100 * units[u]["utilization"] for u in names]
        ys = list(range(len(names)))[::-1]
        _tag(left.barh(ys, shares, 0.6, color="0.45", zorder=2), "utilization-units")
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
        fig.suptitle(_title(doc), fontsize=8)
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


# --- roofline (run) ------------------------------------------------------------------------


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
    hw = _need(doc, source, "hardware_config")
    clock_hz = float(_need(doc, source, "hardware_config", "clock_mhz")) * 1e6
    peak = _pes(doc, source) * clock_hz
    memory = hw.get("memory")
    bandwidth, note = None, "ideal memory"
    if isinstance(memory, dict) and isinstance(memory.get("dram"), dict):
        dram = memory["dram"]
        bandwidth = (dram["channels"] * dram["gbps_per_channel"] * dram.get("efficiency", 1.0)
                     * 1e9)
        note = (f"DRAM {bandwidth / 1e9:.4g} GB/s ({dram['channels']} x "
                f"{dram['gbps_per_channel']:g} GB/s x {100 * dram.get('efficiency', 1.0):g}%)")
    xs, ys, phases, skipped = [], [], [], 0
    for op in sorted(_need(doc, source, "ops"), key=lambda o: o["index"]):
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

    with _style():
        fig = _figure(SINGLE)
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
        ax.set_title(_title(doc) + note)
        ax.legend(loc="lower right", frameon=True, framealpha=0.9, title="GEMM phase",
                  handletextpad=0.2)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_axisbelow(True)
    return fig


KINDS: dict[str, Kind] = {
    "speedup": Kind("speedup", COMPARE, "speedup over dense per model, with its bounds",
                    speedup_figure),
    "breakdown": Kind("breakdown", RUN, "busy cycles per unit, stacked by phase",
                      breakdown_figure),
    "energy": Kind("energy", RUN, "energy per phase, stacked by unit", energy_figure),
    "utilization": Kind("utilization", RUN, "unit busy shares and array utilization per layer",
                        utilization_figure),
    "roofline": Kind("roofline", RUN, "GEMM MAC rate vs operational intensity",
                     roofline_figure),
}


def plot(kind: str, input_path: str | Path, out: str | Path) -> Path:
    """Draw ``kind`` from the JSON file ``input_path`` and write it to ``out``.

    Raises
    ------
    SatsimError
        Unknown kind or format, unreadable input, the wrong kind of input for the plot, a
        field missing, or ``out`` not writable.
    """
    if kind not in KINDS:
        raise SatsimError(f"unknown plot kind {kind!r}: use one of {', '.join(KINDS)}")
    format_of(out)  # before reading or drawing
    what, doc = load_input(input_path)
    spec = KINDS[kind]
    if what != spec.needs:
        raise SatsimError(f"is a {what}; plot {kind} needs a {spec.needs}",
                          source=input_path)
    fig = spec.draw(doc, str(input_path))
    return save(fig, out)


def energy_label(value: float | None) -> str:
    """An energy in three significant digits (a figure's label)."""
    return joules(value, ".3g")


def energy_coverage(doc: dict) -> str | None:
    """What a run document's ``energy_j`` covers (:func:`satsim.energy.breakdown.coverage`;
    computed from ``energy.prices`` for a file written before ``energy.coverage`` existed);
    None without an energy table."""
    energy = doc.get("energy")
    if not isinstance(energy, dict):
        return None
    return energy.get("coverage") or coverage(energy.get("prices") or {})
