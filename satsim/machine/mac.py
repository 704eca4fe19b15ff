"""The cost interface of a MAC engine's kind, and the kinds that have one.

The schedule sees a MAC engine only through :class:`MacEngine`: the output extents its tile
ladders step by, the stationarities it runs, the cycles and MAC slots of a GEMM of given
extents and how often a tile's operands are read from their buffers. A new kind of MAC engine
is a config model (:mod:`satsim.config.units`), its closed forms and a class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from satsim.config.units import MmaUnit, SystolicUnit
from satsim.machine import mma
from satsim.machine.scalesim import scalesim_compute_cycles, scalesim_folds
from satsim.machine.stce import FoldRun, run_cycles
from satsim.types import NMPattern, Stationarity


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class MacRun:
    """A GEMM on the engine: its cycles and the MAC slots it streams through (executed
    products and the gated ones: edge tiles, N:M padding)."""

    cycles: int
    slots: int


class MacEngine(Protocol):
    """What the schedule needs to know of a MAC engine."""

    rows: int  # output rows one step of the tile ladder adds (an array's rows, a fragment's)
    cols: int  # output columns, likewise
    stationarities: tuple[Stationarity, ...]  # the ones it runs, the preferred first

    def run(self, h: int, w: int, k: int, batch: int, pattern: NMPattern | None,
            stationarity: Stationarity, interleave: bool) -> MacRun:
        """``batch`` GEMMs of ``h x w`` outputs over a reduction of ``k`` (dense)."""
        ...

    def reads(self, h: int, w: int, stationarity: Stationarity) -> tuple[int, int]:
        """Times a tile of ``h x w`` outputs reads its A and its B tile."""
        ...

    def row_step(self, stationarity: Stationarity) -> int:
        """The output rows an instance's share comes in (:func:`partition`): what one pass
        of the engine covers, or 1 where rows are a stream (weight stationary)."""
        ...

    def describe(self) -> str:
        """A few words for the scope lines: ``32x32 systolic``."""
        ...


def compressed(k: int, pattern: NMPattern | None) -> int:
    """The reduction as the engine streams it: K, or K in whole groups, n slots each."""
    return k if pattern is None else pattern.compressed_length(k)


@dataclass(frozen=True)
class Systolic:
    """A systolic array (SAT's STCE): folds timed by :mod:`satsim.machine.stce`, or by
    SCALE-Sim's conventions (:mod:`satsim.machine.scalesim`)."""

    unit: SystolicUnit

    @property
    def rows(self) -> int:
        return self.unit.rows

    @property
    def cols(self) -> int:
        return self.unit.cols

    @property
    def stationarities(self) -> tuple[Stationarity, ...]:
        if self.unit.timing == "scalesim":
            return (Stationarity.WS, Stationarity.OS, Stationarity.IS)
        return (Stationarity.WS, Stationarity.OS)

    def run(self, h: int, w: int, k: int, batch: int, pattern: NMPattern | None,
            stationarity: Stationarity, interleave: bool) -> MacRun:
        rows, cols = self.unit.rows, self.unit.cols
        if self.unit.timing == "scalesim":
            # SCALE-Sim's conventions: every fold alone, short last N:M group not padded.
            folds, stream = scalesim_folds(h, k, w, rows, cols, stationarity.value, pattern)
            cycles = scalesim_compute_cycles(h, k, w, rows, cols, stationarity.value, pattern)
            return MacRun(cycles * batch, folds * batch * stream * rows * cols)
        k_eff = compressed(k, pattern)
        if stationarity is Stationarity.OS:
            run = FoldRun(_ceil(h, rows) * _ceil(w, cols) * batch, k_eff)
        else:
            run = FoldRun(_ceil(k_eff, rows) * _ceil(w, cols) * batch, h)
        return MacRun(run_cycles(run, stationarity, rows, cols, interleave),
                      run.folds * run.stream_cycles * rows * cols)

    def reads(self, h: int, w: int, stationarity: Stationarity) -> tuple[int, int]:
        # A once per column of folds; B once per row of folds (OS) or once (WS).
        return (_ceil(w, self.unit.cols),
                _ceil(h, self.unit.rows) if stationarity is Stationarity.OS else 1)

    def row_step(self, stationarity: Stationarity) -> int:
        # OS: a fold holds R output rows; WS: rows stream through the array, one a cycle.
        return self.unit.rows if stationarity is Stationarity.OS else 1

    def describe(self) -> str:
        return f"{self.unit.rows}x{self.unit.cols} systolic"


@dataclass(frozen=True)
class Mma:
    """A tensor-core-style unit: fragments timed by :mod:`satsim.machine.mma`. Its
    accumulators stay in its registers over the reduction: output stationary."""

    unit: MmaUnit
    stationarities = (Stationarity.OS,)

    @property
    def rows(self) -> int:
        return self.unit.m

    @property
    def cols(self) -> int:
        return self.unit.n

    def run(self, h: int, w: int, k: int, batch: int, pattern: NMPattern | None,
            stationarity: Stationarity, interleave: bool) -> MacRun:
        u = self.unit
        count = mma.issues(h, w, compressed(k, pattern), u.m, u.n, u.k) * batch
        return MacRun(mma.mma_cycles(count, u.cycles_per_issue, u.latency_cycles, interleave),
                      count * u.m * u.n * u.k)

    def reads(self, h: int, w: int, stationarity: Stationarity) -> tuple[int, int]:
        # An A fragment once per column of fragments, a B fragment once per row of them.
        return _ceil(w, self.unit.n), _ceil(h, self.unit.m)

    def row_step(self, stationarity: Stationarity) -> int:
        return self.unit.m

    def describe(self) -> str:
        u = self.unit
        return f"{u.m}x{u.n}x{u.k} MMA"


ENGINES: dict[str, type] = {"systolic": Systolic, "mma": Mma}


def partition(rows: int, step: int, instances: int) -> list[int]:
    """Output rows of each instance that works on ``rows`` rows of output (the others have
    none): the rows are cut into blocks of ``step`` (:meth:`MacEngine.row_step`: an OS
    array's rows, a fragment's; 1 for WS), dealt in contiguous runs of
    ``ceil(blocks / instances)`` blocks, the first instance first. So the first instance
    has the most rows; instances run a tile's blocks side by side."""
    blocks = -(-rows // step)
    each = -(-blocks // instances) * step
    return [min(each, rows - at) for at in range(0, rows, each)]


def mac_engine(unit: SystolicUnit | MmaUnit) -> MacEngine:
    """The cost interface of a MAC engine's config."""
    return ENGINES[unit.kind](unit)
