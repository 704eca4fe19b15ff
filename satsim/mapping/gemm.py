"""Map a GEMM op onto the MAC engine: lowering, stationarity, its parts' cycles."""

from __future__ import annotations

from dataclasses import dataclass

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.machine.mac import MacEngine, mac_engine, partition
from satsim.mapping.lowering import GemmShape, Lowering, lower
from satsim.trace.schema import GemmOp
from satsim.types import NMPattern, Phase, Stationarity


@dataclass(frozen=True)
class GemmPart:
    """One GEMM the MAC engine runs for an op, with its timing. On an engine of several
    instances its output rows are dealt to them (:func:`satsim.machine.mac.partition`):
    ``cycles`` are the first instance's (it has the most rows), ``gang`` the others'."""

    shape: GemmShape
    cycles: int  # on the engine, from its closed forms
    slots: int  # MAC slots its run streams through: executed and gated, on every instance
    macs: int  # executed (non-pruned) multiply-accumulates
    gang: tuple[int, ...] = ()  # cycles of the other instances with rows, in order


@dataclass(frozen=True)
class GemmMapping:
    """How one GEMM op runs on the engine: one stationarity, one or more parts in order."""

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
          engine: MacEngine, instances: int, interleave: bool) -> GemmPart:
    kept = shape.k if pattern is None else pattern.kept(shape.k)
    runs = [engine.run(rows, shape.n, shape.k, shape.batch, pattern, stationarity, interleave)
            for rows in partition(shape.m, engine.row_step(stationarity), instances)]
    return GemmPart(shape, runs[0].cycles, sum(r.slots for r in runs),
                    shape.batch * shape.m * kept * shape.n, tuple(r.cycles for r in runs[1:]))


def check_compatible(hw: HardwareConfig, policy: DataflowPolicy) -> None:
    """Reject a dataflow the MAC engine cannot honour (no silent no-op)."""
    choices = {policy.stationarity_for(p) for p in (Phase.FF, Phase.BP, Phase.WG)} - {None}
    runs = mac_engine(hw.engine).stationarities
    if hw.scalesim_timing and policy.interleave_folds:
        raise SatsimError("SCALE-Sim never overlaps folds: use interleave: false (as the "
                          "scalesim-* dataflows do)", source=f"dataflow {policy.name!r}",
                          field="interleave")
    if choices - set(runs):
        if hw.engine.kind == "systolic":
            why = ("input stationary exists only in SCALE-Sim's conventions "
                   f"(units.{hw.routes.FF}.timing: scalesim); the STCE runs os or ws")
        else:
            why = (f"the {hw.engine.kind} unit {hw.routes.FF} keeps its accumulators in its "
                   "registers: it runs " + " or ".join(s.value for s in runs) + " (or auto)")
        raise SatsimError(why, source=f"dataflow {policy.name!r}", field="stationarity")


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
    engine = mac_engine(hw.engine)
    best = None
    # Ties go to WS, then OS: the order of the candidates is the preference order.
    for stationarity in [fixed] if fixed else engine.stationarities:
        mapping = GemmMapping(stationarity, pattern, lowering, tuple(
            _part(s, pattern, stationarity, engine, hw.engine.count, policy.interleave_folds)
            for s in shapes))
        if best is None or mapping.cycles < best.cycles:
            best = mapping
    return best
