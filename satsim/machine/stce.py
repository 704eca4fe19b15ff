"""The STCE (sparse tensor computing engine): closed-form fold timing.

The closed forms below are derived from the micro-architecture of
``docs/microarchitecture.md`` and checked against the cycle-stepped reference
(:mod:`satsim.timing.reference`) by the property tests. With T the stream length of a fold
(OS: compressed reduction K'; WS: the M rows of A) and an R x C array:

* one fold, alone, from its first operand in to its last result out: ``T + R + C - 1``;
* without interleaving every fold is alone: ``F * (T + R + C - 1)``;
* with interleaving a fold starts every ``P`` cycles, ``P = max(T, R)`` (OS: each column's
  output port reads R results per fold) or ``max(T, R, C)`` (WS: R rows of weights load one
  per cycle, and a row's shadow frees when all C columns took it): ``(F - 1) * P + T + R + C - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.types import Stationarity


@dataclass(frozen=True)
class FoldRun:
    """``folds`` identical folds of one op, each streaming ``stream_cycles`` operands."""

    folds: int
    stream_cycles: int


def fold_period(stationarity: Stationarity, stream_cycles: int, rows: int, cols: int) -> int:
    """Cycles between the starts of two interleaved folds."""
    if stationarity is Stationarity.OS:
        return max(stream_cycles, rows)
    return max(stream_cycles, rows, cols)


def run_cycles(run: FoldRun, stationarity: Stationarity, rows: int, cols: int,
               interleave: bool) -> int:
    """Cycles from the run's first operand entering the array to its last result leaving."""
    alone = run.stream_cycles + rows + cols - 1
    if not interleave:
        return run.folds * alone
    return (run.folds - 1) * fold_period(stationarity, run.stream_cycles, rows, cols) + alone
