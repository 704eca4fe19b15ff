"""The energy figure of a run (``satsim run --json``): the iteration's energy per phase
stacked by unit, each op's actions priced with the run's own prices, the static energy as its
own bar; a unit whose every term is unpriced is n/a, never 0."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from satsim.energy.breakdown import EVERY_TERM, coverage
from satsim.errors import SatsimError
from satsim.report.canvas import SINGLE, new_figure, paper_style, tag_bars
from satsim.report.documents import need, run_title
from satsim.report.result import PHASES
from satsim.report.summary import energy_name, energy_total, joules

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    energy = need(doc, source, "energy")
    if energy is None:
        raise SatsimError("no energy in this run: its hardware names no energy table (run "
                          "with --set energy=asic-45nm)", source=source, field="energy")
    units = list(need(doc, source, "energy", "by_unit"))
    static = need(doc, source, "energy", "static")
    bars: dict[str, dict] = {}
    for op in need(doc, source, "ops"):
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
    with paper_style():
        fig = new_figure((SINGLE[0], 3.6))  # the legend below the bars
        ax = fig.add_subplot()
        names = list(bars)
        bottoms = [0.0] * len(names)
        for unit in units:
            heights = [1e3 * (bars[b].get(unit) or 0.0) for b in names]
            spent = by_unit.get(unit)
            label = f"{_unit_label(unit)}: {energy_label(spent)}"
            tag_bars(ax.bar(range(len(names)), heights, 0.7, bottom=bottoms, color=colours[unit],
                        label=label, zorder=2), f"energy-{unit}")
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right",
                      rotation_mode="anchor")
        ax.set_xlabel("phase (static: the whole iteration's)")
        covers = energy_coverage(doc)
        ax.set_ylabel(energy_name(covers == EVERY_TERM, "mJ"))
        ax.set_ylim(0, max(max(bottoms), 1e-12) * 1.05)
        total = energy_total(doc.get("energy_j"), covers, ".3g")
        ax.set_title(run_title(doc) + "\n" + "\n".join(textwrap.wrap(total, 56)))
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
