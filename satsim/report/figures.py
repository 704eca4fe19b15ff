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

Each figure is built from the JSON document alone (:mod:`satsim.report.documents`; its
``hardware_config`` gives the array and the DRAM) by :mod:`satsim.report.compare_figures`,
:mod:`satsim.report.time_figures` or :mod:`satsim.report.energy_figures`, drawn on
:mod:`satsim.report.canvas` (matplotlib's Agg canvas, never ``pyplot``) at paper-figure size
with fonts of at least 7 pt, and written deterministically (no dates, fixed SVG ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from satsim.errors import SatsimError
from satsim.report.canvas import format_of, save
from satsim.report.compare_figures import speedup_figure
from satsim.report.documents import COMPARE, RUN, load_input
from satsim.report.energy_figures import energy_figure
from satsim.report.time_figures import breakdown_figure, roofline_figure, utilization_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Kind:
    """A plot kind: what it draws, from which input."""

    name: str
    needs: str  # RUN or COMPARE
    what: str
    draw: Callable[[dict, str], Figure]


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
