"""Map a GEMM op onto the STCE: canonical operands, N:M compression, folds, stationarity."""

from __future__ import annotations

from dataclasses import dataclass

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.timing.stce import FoldRun, run_cycles
from satsim.trace.schema import GemmOp
from satsim.types import NMPattern, Stationarity


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GemmMapping:
    """How one GEMM op runs on the array.

    Dimensions are canonical: the weight (if any) is operand B [K, N], so an op whose weight is
    its A operand is run transposed (M and N swap). ``k_eff`` is the reduction length the array
    streams: K, or K padded to whole N:M groups and compressed to n slots per group.
    """

    stationarity: Stationarity
    pattern: NMPattern | None
    m: int
    k: int
    n: int
    batch: int
    k_eff: int
    runs: tuple[FoldRun, ...]
    cycles: int  # on the array, from the closed forms
    macs: int  # executed (non-pruned) multiply-accumulates
    dense_macs: int


def _runs(stationarity: Stationarity, m: int, k_eff: int, n: int, batch: int,
          rows: int, cols: int) -> tuple[FoldRun, ...]:
    if stationarity is Stationarity.OS:
        folds, stream = _ceil(m, rows) * _ceil(n, cols), k_eff
    else:
        folds, stream = _ceil(k_eff, rows) * _ceil(n, cols), m
    return (FoldRun(folds * batch, stream),)


def map_gemm(op: GemmOp, hw: HardwareConfig, policy: DataflowPolicy) -> GemmMapping:
    """Choose stationarity (fixed by the policy, or the faster one) and tile the op."""
    pattern = op.sparsity
    if not hw.sparsity.supports(pattern):
        raise SatsimError(f"N:M {pattern} is beyond the array's max_m = {hw.sparsity.max_m}",
                          source=f"hardware {hw.name!r}", field=f"layer {op.layer} ({op.phase})")
    m, n = (op.N, op.M) if op.weight == "A" else (op.M, op.N)
    k_eff = op.K if pattern is None else pattern.compressed_length(op.K)
    kept = op.K if pattern is None else pattern.kept(op.K)
    rows, cols, interleave = hw.array.rows, hw.array.cols, policy.interleave
    fixed = policy.stationarity_for(op.phase)
    # Ties go to WS: the order below is the preference order.
    choices = [fixed] if fixed else [Stationarity.WS, Stationarity.OS]
    best = None
    for stationarity in choices:
        runs = _runs(stationarity, m, k_eff, n, op.batch, rows, cols)
        cycles = sum(run_cycles(r, stationarity, rows, cols, interleave) for r in runs)
        if best is None or cycles < best[2]:
            best = (stationarity, runs, cycles)
    stationarity, runs, cycles = best
    return GemmMapping(stationarity, pattern, m, op.K, n, op.batch, k_eff, runs, cycles,
                       macs=op.batch * m * kept * n, dense_macs=op.macs)
