"""Map a GEMM op onto the STCE: lowering, N:M compression, folds, stationarity."""

from __future__ import annotations

from dataclasses import dataclass

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.machine.scalesim import scalesim_compressed_k, scalesim_compute_cycles, scalesim_folds
from satsim.machine.stce import FoldRun, run_cycles
from satsim.mapping.lowering import GemmShape, Lowering, lower
from satsim.trace.schema import GemmOp
from satsim.types import NMPattern, Phase, Stationarity


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GemmPart:
    """One GEMM the array runs for an op, with its reduction as streamed and its timing.

    ``k_eff`` is K, or K padded to whole N:M groups and compressed to n slots per group.
    """

    shape: GemmShape
    k_eff: int
    run: FoldRun
    cycles: int  # on the array, from the closed forms
    macs: int  # executed (non-pruned) multiply-accumulates


@dataclass(frozen=True)
class GemmMapping:
    """How one GEMM op runs on the array: one stationarity, one or more parts in order."""

    stationarity: Stationarity
    pattern: NMPattern | None
    lowering: Lowering
    parts: tuple[GemmPart, ...]

    @property
    def cycles(self) -> int:
        return sum(p.cycles for p in self.parts)

    @property
    def macs(self) -> int:
        """Executed multiply-accumulates (zero-inserted products included: the array runs them)."""
        return sum(p.macs for p in self.parts)

    @property
    def dense_macs(self) -> int:
        """Multiply-accumulates of the same lowering without N:M pruning."""
        return sum(p.shape.macs for p in self.parts)


def _part(shape: GemmShape, pattern: NMPattern | None, stationarity: Stationarity,
          hw: HardwareConfig, interleave: bool) -> GemmPart:
    rows, cols = hw.engine.rows, hw.engine.cols
    kept = shape.k if pattern is None else pattern.kept(shape.k)
    macs = shape.batch * shape.m * kept * shape.n
    if hw.engine.timing == "scalesim":
        # SCALE-Sim's conventions: every fold alone, short last N:M group not padded.
        folds, stream = scalesim_folds(shape.m, shape.k, shape.n, rows, cols,
                                       stationarity.value, pattern)
        cycles = scalesim_compute_cycles(shape.m, shape.k, shape.n, rows, cols,
                                         stationarity.value, pattern)
        return GemmPart(shape, scalesim_compressed_k(shape.k, pattern),
                        FoldRun(folds * shape.batch, stream), cycles * shape.batch, macs)
    k_eff = shape.k if pattern is None else pattern.compressed_length(shape.k)
    if stationarity is Stationarity.OS:
        folds, stream = _ceil(shape.m, rows) * _ceil(shape.n, cols), k_eff
    else:
        folds, stream = _ceil(k_eff, rows) * _ceil(shape.n, cols), shape.m
    run = FoldRun(folds * shape.batch, stream)
    return GemmPart(shape, k_eff, run, run_cycles(run, stationarity, rows, cols, interleave),
                    macs)


def check_compatible(hw: HardwareConfig, policy: DataflowPolicy) -> None:
    """Reject a dataflow the hardware's timing conventions cannot honour (no silent no-op)."""
    choices = {policy.stationarity_for(p) for p in (Phase.FF, Phase.BP, Phase.WG)}
    if hw.engine.timing == "satsim" and Stationarity.IS in choices:
        raise SatsimError("input stationary exists only in SCALE-Sim's conventions "
                          f"(units.{hw.routes.FF}.timing: scalesim); the STCE runs os or ws",
                          source=f"dataflow {policy.name!r}", field="stationarity")
    if hw.engine.timing == "scalesim" and policy.interleave_folds:
        raise SatsimError("SCALE-Sim never overlaps folds: use interleave: false (as the "
                          "scalesim-* dataflows do)", source=f"dataflow {policy.name!r}",
                          field="interleave")


def map_gemm(op: GemmOp, hw: HardwareConfig, policy: DataflowPolicy,
             stationarity: Stationarity | None = None) -> GemmMapping:
    """Lower ``op``, then choose stationarity (``stationarity``, else fixed by the policy,
    else the faster one)."""
    pattern = op.sparsity
    problem = hw.pattern_problem(pattern)
    if problem is not None:
        raise SatsimError(problem, source=f"hardware {hw.name!r}",
                          field=f"layer {op.layer} ({op.phase})")
    check_compatible(hw, policy)
    lowering, shapes = lower(op, hw.conv.strided_bp)
    fixed = stationarity or policy.stationarity_for(op.phase)
    candidates = [Stationarity.WS, Stationarity.OS]
    if hw.engine.timing == "scalesim":
        candidates.append(Stationarity.IS)
    best = None
    # Ties go to WS, then OS: the order of the candidates is the preference order.
    for stationarity in [fixed] if fixed else candidates:
        mapping = GemmMapping(stationarity, pattern, lowering, tuple(
            _part(s, pattern, stationarity, hw, policy.interleave_folds) for s in shapes))
        if best is None or mapping.cycles < best.cycles:
            best = mapping
    return best
