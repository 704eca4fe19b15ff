"""The MMA kind: a tensor-core-style unit issuing fixed m x n x k fragments, an N:M weight
selected by its metadata. Its closed forms equal its cycle-stepped reference, and the
reference's values equal a plain matmul of the pruned operands."""

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.config import load_dataflow, load_hardware
from satsim.config.units import MmaUnit, NMSupport
from satsim.errors import SatsimError
from satsim.functional.nm import nm_mask
from satsim.machine.mac import mac_engine
from satsim.resources import shipped
from satsim.simulate import simulate
from satsim.timing.mma_reference import run_mma_reference
from satsim.trace.schema import GemmOp, Trace, TraceHeader
from satsim.types import NMPattern, Phase, Stationarity

PATTERNS = [None, NMPattern(2, 4), NMPattern(1, 4), NMPattern(1, 2), NMPattern(3, 8)]
ANY = {"patterns": ["N:M"], "max_m": 16}


def _engine_cycles(unit: dict, m: int, k: int, n: int, batch: int, pattern, pipelined) -> int:
    """One GEMM op on the tc-2of4 preset with the MMA unit ``unit``, on ideal memory."""
    hw = load_hardware("tc-2of4", [*((f"tc.{key}", value) for key, value in unit.items()),
                                   ("tc.count", 1), ("tc.sparsity", ANY), ("memory", "ideal")])
    policy = load_dataflow("sat", [("interleave", pipelined)])
    op = GemmOp(phase=Phase.FF, layer="x", M=m, K=k, N=n, batch=batch, weight="B",
                sparsity=pattern)
    (row,) = simulate(Trace(header=TraceHeader(name="x"), records=(op,)), hw, policy).rows
    assert row["start"] == 0
    return row["end"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(frag=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
       interval=st.integers(1, 4), extra=st.integers(0, 6), pipelined=st.booleans(),
       shape=st.tuples(st.integers(1, 20), st.integers(1, 24), st.integers(1, 20)),
       batch=st.integers(1, 3), pattern=st.sampled_from(PATTERNS),
       seed=st.integers(0, 2**32 - 1))
def test_closed_form_equals_reference(frag, interval, extra, pipelined, shape, batch, pattern,
                                      seed):
    """For every small GEMM the closed form's cycles (through the simulator) equal the
    reference's, and the reference's values equal ``A @ pruned(B)`` exactly (small integers
    in fp64)."""
    (fm, fn, fk), (m, k, n) = frag, shape
    unit = {"m": fm, "n": fn, "k": fk, "cycles_per_issue": interval,
            "latency_cycles": interval + extra}
    rng = np.random.default_rng(seed)
    a = rng.integers(-8, 9, (batch, m, k)).astype(np.float64)
    b = rng.integers(-8, 9, (batch, k, n)).astype(np.float64)
    ref = run_mma_reference(a, b, m=fm, n=fn, k=fk, cycles_per_issue=interval,
                            latency_cycles=interval + extra, pipelined=pipelined,
                            pattern=pattern)
    assert ref.cycles == _engine_cycles(unit, m, k, n, batch, pattern, pipelined)
    for g in range(batch):
        pruned = b[g] if pattern is None else b[g] * nm_mask(b[g], pattern)
        np.testing.assert_array_equal(ref.output[g], a[g] @ pruned)


def test_issues_follow_the_interval_and_wait_for_the_pipeline_when_not_pipelined():
    """Four fragments (a 2x2 output of 1x1x1 fragments over K = 1), interval 2, latency 5:
    pipelined, issued at 0, 2, 4, 6 and done at 6 + 5; one at a time, at 0, 5, 10, 15."""
    a, b = np.ones((2, 1)), np.ones((1, 2))
    common = {"m": 1, "n": 1, "k": 1, "cycles_per_issue": 2, "latency_cycles": 5}
    piped = run_mma_reference(a, b, pipelined=True, **common)
    alone = run_mma_reference(a, b, pipelined=False, **common)
    assert (piped.issue_cycles, piped.cycles) == ((0, 2, 4, 6), 11)
    assert (alone.issue_cycles, alone.cycles) == ((0, 5, 10, 15), 20)


def test_a_sparse_issue_covers_m_over_n_times_the_dense_reduction():
    """2:4 on a k = 16 fragment: K = 32 takes one issue (16 kept weights), as NVIDIA's
    mma.sp m16n8k32 does; dense K = 32 takes two. MAC slots count the fragment's k."""
    engine = mac_engine(MmaUnit(kind="mma", m=16, n=8, k=16, cycles_per_issue=8,
                                latency_cycles=8, sparsity=NMSupport(patterns=["2:4"])))
    sparse = engine.run(16, 8, 32, 1, NMPattern(2, 4), Stationarity.OS, True)
    dense = engine.run(16, 8, 32, 1, None, Stationarity.OS, True)
    assert (sparse.cycles, sparse.slots) == (8, 16 * 8 * 16)
    assert (dense.cycles, dense.slots) == (16, 2 * 16 * 8 * 16)


def test_latency_shorter_than_the_interval_is_an_error_naming_the_field(tmp_path):
    """A result cannot come before the next issue may start: latency_cycles >= the
    interval, else one error naming the file and field."""
    doc = yaml.safe_load(shipped("configs", (".yaml",))["tc-2of4"].read_text())
    doc["units"]["tc"]["latency_cycles"] = 4
    path = tmp_path / "tc.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SatsimError, match=r"tc.yaml: units.tc.latency_cycles: an issue's "
                                          r"result cannot come before the next issue"):
        load_hardware(path)


def test_an_mma_unit_runs_output_stationary_only():
    """Its accumulators stay in its registers: a dataflow fixing ws is one error."""
    from satsim.api import run

    with pytest.raises(SatsimError, match="dataflow 'naive': stationarity: the mma unit tc "
                                          "keeps its accumulators in its registers: it runs os"):
        run("resnet18-cifar", "tc-2of4", "naive", sparsity="2:4")
