"""Running ops: ordering, event economy, transposed weights, result invariants."""

import pytest

from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.machine.costs import Machine
from satsim.mapping import map_gemm
from satsim.search.evaluate import plan
from satsim.simulate import simulate
from satsim.timing.engine import execute
from satsim.trace.schema import GemmOp, Trace, TraceHeader, VectorOp
from satsim.types import NMPattern, Phase


def _trace(*records):
    return Trace(header=TraceHeader(name="t"), records=records)


IDEAL = load_hardware("sat", [("memory", "ideal")])


def test_ops_run_back_to_back_in_trace_order():
    """Without a tensor graph the records form a chain: each GEMM starts when the previous
    record has ended, the vector op on the vector unit in between."""
    ops = [GemmOp(phase=Phase.FF, layer=f"l{i}", M=64, K=64, N=64, weight="B") for i in range(3)]
    trace = _trace(ops[0], VectorOp(phase=Phase.FF, layer="relu", op="relu", elements=64),
                   ops[1], ops[2])
    rows = simulate(trace, IDEAL, load_dataflow("sat")).rows
    assert [(r["index"], r["unit"]) for r in rows] == [
        (0, "stce"), (1, "vector"), (2, "stce"), (3, "stce")]
    assert rows[0]["start"] == 0 and rows[1]["cycles"] == 64 // 32
    assert all(a["end"] == b["start"] for a, b in zip(rows, rows[1:], strict=False))


@pytest.mark.parametrize("dataflow", ["sat", "naive"])
def test_event_count_does_not_grow_with_m(dataflow):
    """The SimPy engine processes as many events for M = 16 as for M = 10^6 on ideal memory
    (cost ~ tasks, not MACs)."""
    counts = []
    for m in (16, 1_000_000):
        op = GemmOp(phase=Phase.FF, layer="x", M=m, K=512, N=512, weight="B")
        program = plan(_trace(op, op), IDEAL, load_dataflow(dataflow)).program
        counts.append(execute(program, Machine.from_hardware(IDEAL)).events)
    assert counts[0] == counts[1] < 20


def test_weight_on_the_left_runs_transposed():
    """An op whose weight is operand A costs what its transpose with weight B costs."""
    hw, policy = load_hardware("sat"), load_dataflow("sat")
    left = GemmOp(phase=Phase.FF, layer="x", M=96, K=200, N=3000, weight="A",
                  sparsity=NMPattern(2, 4))
    right = GemmOp(phase=Phase.FF, layer="x", M=3000, K=200, N=96, weight="B",
                   sparsity=NMPattern(2, 4))
    assert map_gemm(left, hw, policy).cycles == map_gemm(right, hw, policy).cycles


def test_auto_picks_the_faster_stationarity():
    """auto never costs more than either fixed choice."""
    hw = load_hardware("sat")
    op = GemmOp(phase=Phase.BP, layer="x", M=500, K=300, N=70, weight="B")
    auto = map_gemm(op, hw, load_dataflow("sat")).cycles
    fixed = [map_gemm(op, hw, load_dataflow("sat", [("stationarity", s)])).cycles
             for s in ("os", "ws")]
    assert auto == min(fixed)


def test_per_phase_stationarity():
    """A per-phase policy fixes each phase's stationarity."""
    policy = load_dataflow("sat", [("stationarity", {"FF": "os", "WG": "ws"})])
    hw = load_hardware("sat")
    ff = GemmOp(phase=Phase.FF, layer="x", M=64, K=64, N=64, weight="B")
    wg = GemmOp(phase=Phase.WG, layer="x", M=64, K=64, N=64)
    assert map_gemm(ff, hw, policy).stationarity.value == "os"
    assert map_gemm(wg, hw, policy).stationarity.value == "ws"


def test_pattern_beyond_max_m_is_an_error():
    """An op whose N:M exceeds the array's max_m is rejected, naming the layer."""
    op = GemmOp(phase=Phase.FF, layer="conv7", M=8, K=64, N=8, weight="B",
                sparsity=NMPattern(1, 32))
    with pytest.raises(SatsimError, match="conv7"):
        map_gemm(op, load_hardware("sat"), load_dataflow("sat"))


def test_result_invariants():
    """cycles = end - start per op; utilization is executed MACs over cycles x PEs, in [0, 1]."""
    ops = (GemmOp(phase=Phase.FF, layer="a", M=100, K=64, N=48, weight="B",
                  sparsity=NMPattern(2, 4)),
           GemmOp(phase=Phase.WG, layer="a", M=48, K=100, N=64))
    result = simulate(_trace(*ops), IDEAL, load_dataflow("sat"))
    frame = result.ops
    assert (frame["cycles"] == frame["end"] - frame["start"]).all()
    assert result.macs == 100 * 32 * 48 + 48 * 100 * 64
    assert result.dense_macs == 2 * 100 * 64 * 48
    assert result.utilization == pytest.approx(result.macs / (result.cycles * 1024))
    assert 0 < result.utilization <= 1
