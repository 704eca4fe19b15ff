"""The SimPy engine's cycle counts equal the cycle-stepped reference's, exactly."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.config import load_dataflow, load_hardware
from satsim.functional.nm import nm_mask
from satsim.simulate import simulate
from satsim.timing.reference import run_reference
from satsim.trace.schema import GemmOp, Trace, TraceHeader
from satsim.types import NMPattern, Phase, Stationarity

PATTERNS = [None, NMPattern(1, 2), NMPattern(2, 4), NMPattern(1, 4), NMPattern(2, 8),
            NMPattern(1, 8)]


def engine_cycles(m, k, n, pattern, rows, cols, stationarity, interleave) -> int:
    hw = load_hardware("sat", [("array.rows", rows), ("array.cols", cols), ("memory", "ideal")])
    policy = load_dataflow("sat", [("stationarity", stationarity.value),
                                   ("interleave", interleave)])
    op = GemmOp(phase=Phase.FF, layer="x", M=m, K=k, N=n, weight="B", sparsity=pattern)
    (row,) = simulate(Trace(header=TraceHeader(name="x"), records=(op,)), hw, policy).rows
    assert row["start"] == 0
    return row["end"]


@settings(max_examples=220, deadline=None, derandomize=True)
@given(rows=st.integers(1, 8), cols=st.integers(1, 8), m=st.integers(1, 40),
       k=st.integers(1, 40), n=st.integers(1, 40), pattern=st.sampled_from(PATTERNS),
       stationarity=st.sampled_from([Stationarity.OS, Stationarity.WS]), interleave=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_engine_equals_reference(rows, cols, m, k, n, pattern, stationarity, interleave, seed):
    """For every small GEMM the engine's cycles equal the reference's, and the reference's
    values equal a plain matmul of the pruned operands (exact: small integers in fp64)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-8, 9, (m, k)).astype(np.float64)
    b = rng.integers(-8, 9, (k, n)).astype(np.float64)
    ref = run_reference(a, b, rows=rows, cols=cols, stationarity=stationarity,
                        interleave=interleave, pattern=pattern)
    assert ref.cycles == engine_cycles(m, k, n, pattern, rows, cols, stationarity, interleave)
    pruned = b if pattern is None else b * nm_mask(b, pattern)
    np.testing.assert_array_equal(ref.output, a @ pruned)
