"""Each dataflow switch on a scenario small enough to time by hand: exact cycles off and on.

The expected numbers are derived in each test's docstring from the documented timing rules
(``docs/microarchitecture.md``; :mod:`satsim.machine.stce` for folds,
:mod:`satsim.schedule.walk` and :mod:`satsim.search.order` for ops), not read off the
simulator. Notation: R x C the array, T a fold's stream length, F the folds, L the DRAM
latency in cycles; a unit takes its tasks in Program order and a task starts at
``max(ready, unit free)``, a transfer at ``max(ready + L, DMA free)``.
"""

import pytest

from satsim.config import DataflowPolicy, load_hardware
from satsim.simulate import simulate
from satsim.trace.schema import (
    GemmOp,
    MaskGenOp,
    Role,
    TensorInfo,
    Trace,
    TraceHeader,
    VectorOp,
)
from satsim.types import NMPattern, Phase


def _policy(*, stationarity: str = "os", folds: bool = True, ops: bool = True,
            offline: bool = False) -> DataflowPolicy:
    return DataflowPolicy(name="switches", stationarity=stationarity,
                          interleave={"folds": folds, "ops": ops}, pregenerate=False,
                          offline_schedule=offline)


def _tensor(tid: int, *shape: int) -> TensorInfo:
    """A float16 activation (operand bytes: 2 per element, never the master format)."""
    numel = 1
    for s in shape:
        numel *= s
    return TensorInfo(id=tid, shape=shape, dtype="float16", bytes=2 * numel,
                      role=Role.ACTIVATION)


def _gemm(m: int, k: int, n: int, phase: Phase = Phase.FF, sparsity=None, a=(), b=(), c=(),
          layer: str = "g") -> GemmOp:
    return GemmOp(phase=phase, layer=layer, M=m, K=k, N=n, weight="B", sparsity=sparsity,
                  a=a, b=b, c=c)


def _rows(result) -> dict[int, tuple[int, int]]:
    """Per record: (start, end)."""
    return {row["index"]: (row["start"], row["end"]) for row in result.rows}


# -- interleave: folds -------------------------------------------------------------------------

# Ideal memory, no SORE and no vector unit: a GEMM is one task on the STCE taking its closed
# form; interleaving ops does nothing here (it needs a memory system).
FOLD_CASES = [
    # OS, F = ceil(8/4) * ceil(8/4) = 4 folds of T = K = 6; alone 6 + 4 + 4 - 1 = 13.
    # Off: 4 * 13 = 52. On: P = max(T, R) = 6, 3 * 6 + 13 = 31.
    pytest.param("os", 4, 4, (8, 6, 8), None, 52, 31, id="os-stream-bound"),
    # OS, T = K = 2 < R: F = 4, alone 2 + 7 = 9. Off: 36. On: a column's port reads R = 4
    # results per fold, so P = max(2, 4) = 4: 3 * 4 + 9 = 21.
    pytest.param("os", 4, 4, (8, 2, 8), None, 36, 21, id="os-port-bound"),
    # OS 2:4 on K = 8: the stream is K' = 8 * 2/4 = 4; F = ceil(4/4) * ceil(8/4) = 2;
    # alone 4 + 7 = 11. Off: 22. On: P = max(4, 4) = 4: 4 + 11 = 15.
    pytest.param("os", 4, 4, (4, 8, 8), NMPattern(2, 4), 22, 15, id="os-sparse"),
    # WS, F = ceil(K/R) * ceil(N/C) = 2 * 2 = 4 folds of T = M = 8; alone 8 + 7 = 15.
    # Off: 60. On: P = max(8, 4, 4) = 8: 3 * 8 + 15 = 39.
    pytest.param("ws", 4, 4, (8, 6, 8), None, 60, 39, id="ws-stream-bound"),
    # WS on a 2 x 4 array, M = 2, K = 4, N = 8: F = ceil(4/2) * ceil(8/4) = 4, T = 2;
    # alone 2 + 2 + 4 - 1 = 7. Off: 28. On: a shadow row frees once all C = 4 columns took
    # it, so P = max(2, 2, 4) = 4: 3 * 4 + 7 = 19.
    pytest.param("ws", 2, 4, (2, 4, 8), None, 28, 19, id="ws-columns-bound"),
]


@pytest.mark.parametrize(("stationarity", "rows", "cols", "mkn", "sparsity", "off", "on"),
                         FOLD_CASES)
def test_interleaving_folds_starts_a_fold_every_period(stationarity, rows, cols, mkn, sparsity,
                                                       off, on):
    """One GEMM of F folds on an ideal memory: without interleaving every fold runs alone,
    ``F * (T + R + C - 1)``; with it a fold starts every period P (OS ``max(T, R)``, WS
    ``max(T, R, C)``): ``(F - 1) * P + T + R + C - 1``. Each case's numbers are derived
    beside it in ``FOLD_CASES``."""
    hw = load_hardware("sat-small", [("array.rows", rows), ("array.cols", cols),
                                     ("routes.maskgen", "untimed"), ("routes.vector", "untimed"),
                                     ("routes.update", "untimed")])
    trace = Trace(header=TraceHeader(name="folds"), records=(_gemm(*mkn, sparsity=sparsity),))
    cycles = {switch: simulate(trace, hw, _policy(stationarity=stationarity,
                                                  folds=switch)).cycles
              for switch in (False, True)}
    assert cycles == {False: off, True: on}


def test_interleaving_folds_does_not_overlap_two_ops():
    """Two GEMMs one after the other (a v1 chain) on a 4 x 4 OS array, ideal memory: the
    second starts when the first's last result has left, whatever the switch. The first
    (8 x 6 x 8) takes 52 off, 31 on; the second (8 x 2 x 8) 36 off, 21 on (see
    ``FOLD_CASES``): 52 + 36 = 88 off, 31 + 21 = 52 on, the second starting at 52 and 31."""
    hw = load_hardware("sat-small", [("array.rows", 4), ("array.cols", 4),
                                     ("routes.maskgen", "untimed"), ("routes.vector", "untimed"),
                                     ("routes.update", "untimed")])
    trace = Trace(header=TraceHeader(name="two"), records=(
        _gemm(8, 6, 8, layer="g0"), _gemm(8, 2, 8, layer="g1")))
    off = simulate(trace, hw, _policy(folds=False))
    on = simulate(trace, hw, _policy(folds=True))
    assert (off.cycles, _rows(off)) == (88, {0: (0, 52), 1: (52, 88)})
    assert (on.cycles, _rows(on)) == (52, {0: (0, 31), 1: (31, 52)})


# -- interleave: ops ---------------------------------------------------------------------------

# L = 10: 1 GHz, one channel of 32 GB/s at efficiency 1 moving 32 bytes a cycle, 10 ns. Every
# bank port is 64 bytes wide and dual-ported, so no transfer or task here waits on a port
# (every transfer is <= 32 bytes: one cycle). All buffers double-buffered: loads run one
# step ahead. Array 4 x 4; vector unit 4 lanes, relu 20 cycles per element.
_BUFFER = {"kib": 1, "bytes_per_cycle": 64, "ports": 2}
MEMORY = {"dram": {"channels": 1, "gbps_per_channel": 32.0, "efficiency": 1.0,
                   "latency_ns": 10},
          "buffers": {name: {**_BUFFER, "holds": [role]} for name, role in (
              ("act", "activations"), ("wgt", "weights"), ("out", "outputs"),
              ("vec", "vector"))}}
WITH_DRAM = load_hardware("sat-small", [
    ("clock_mhz", 1000), ("memory", MEMORY), ("array.rows", 4), ("array.cols", 4),
    ("routes.maskgen", "untimed"), ("vector.lanes", 4), ("vector.cycles_per_element.relu", 20)])


def _gemm_and_relu(relu_reads_the_gemm: bool) -> Trace:
    """Record 0: an FF GEMM ``y[4,4] = x[4,4] @ w[4,4]`` (fp16: 32 bytes each); record 1:
    a relu of 4 elements (8 bytes in, 8 out), of ``y``'s first row or of its own ``u``."""
    tensors = (_tensor(0, 4, 4), _tensor(1, 4, 4), _tensor(2, 4, 4), _tensor(3, 4),
               _tensor(4, 4), TensorInfo(id=5, shape=(4,), dtype="float16", bytes=8,
                                         role=Role.ACTIVATION, view_of=2))
    relu = VectorOp(phase=Phase.FF, layer="act", op="relu", elements=4,
                    reads=(5 if relu_reads_the_gemm else 3,), writes=(4,))
    return Trace(header=TraceHeader(name="gemm-relu"), tensors=tensors, records=(
        _gemm(4, 4, 4, a=(0,), b=(1,), c=(2,)), relu))


def test_interleaving_ops_runs_an_independent_vector_op_beside_a_gemm():
    """GEMM (one tile: a single OS fold of T = 4, 4 + 4 + 4 - 1 = 11 cycles; its smaller
    K slices would take 2 x 9 on the array, so the whole K is the fastest tile) and an
    independent relu (one chunk: ceil(4/4) * 20 = 20 cycles; smaller chunks cost 20 each).
    Every transfer takes one cycle after its latency.

    One op at a time (``ops: false``), Program order: the GEMM loads x at L = 10..11 and
    w at 11..12, computes 12..23, stores 33..34 (ready 23, + L); the relu's load, behind it
    on the DMA, 34..35 (ready 0, + L = 10 < 34); it computes 35..55 and stores 65..66:
    66 cycles, the relu's span 34..66.

    Side by side (``ops: true``): both ops start at once, their first loads emitted when
    they start (the array's lane first): x 10..11, w 11..12, the relu's load 12..13; then
    the GEMM (its unit free at 0, like the vector unit's, the array's lane first) emits its
    compute 12..23 and store 33..34; then the relu computes 13..33 and stores 43..44
    (ready 33, + L; the DMA is free from 34): 44 cycles, the relu's span 12..44."""
    trace = _gemm_and_relu(relu_reads_the_gemm=False)
    off = simulate(trace, WITH_DRAM, _policy(ops=False))
    on = simulate(trace, WITH_DRAM, _policy(ops=True))
    assert (off.cycles, _rows(off)) == (66, {0: (10, 34), 1: (34, 66)})
    assert (on.cycles, _rows(on)) == (44, {0: (10, 34), 1: (12, 44)})


def test_interleaving_ops_keeps_what_the_graph_orders():
    """The same GEMM and relu, the relu reading the GEMM's result (a row of ``y``): it
    starts only after the GEMM's store (34), with the switch on or off. Its load is ready
    at 34 and streams 44..45, it computes 45..65 and stores 75..76: 76 cycles either way."""
    trace = _gemm_and_relu(relu_reads_the_gemm=True)
    for ops in (False, True):
        run = simulate(trace, WITH_DRAM, _policy(ops=ops))
        assert (run.cycles, _rows(run)) == (76, {0: (10, 34), 1: (44, 76)}), ops


# -- offline_schedule --------------------------------------------------------------------------

# Ideal memory, 4 x 4 OS array, vector unit of 4 lanes: relu 2 cycles per element, cast 12.
IDEAL = load_hardware("sat-small", [("array.rows", 4), ("array.cols", 4),
                                    ("routes.maskgen", "untimed"),
                                    ("vector.lanes", 4), ("vector.cycles_per_element.relu", 2),
                                    ("vector.cycles_per_element.cast", 12)])


def _backward_step(gemm_needs_the_relu: bool) -> Trace:
    """Record 0: side work, a WG cast of a weight gradient (16 elements: ceil(16/4) * 12 =
    48 cycles); record 1: the chain, a BP relu of 16 elements (ceil(16/4) * 2 = 8 cycles);
    record 2: a BP GEMM 4 x 4 x 4 (one OS fold: 4 + 4 + 4 - 1 = 11 cycles) reading the
    relu's result, or a tensor no record writes."""
    tensors = tuple(_tensor(i, 4, 4) for i in range(7))
    return Trace(header=TraceHeader(name="backward"), tensors=tensors, records=(
        VectorOp(phase=Phase.WG, layer="fc", op="cast", elements=16, reads=(0,), writes=(1,)),
        VectorOp(phase=Phase.BP, layer="act", op="relu", elements=16, reads=(2,),
                 writes=(3,)),
        _gemm(4, 4, 4, phase=Phase.BP, a=(3 if gemm_needs_the_relu else 6,), b=(4,), c=(5,),
              layer="fc")))


def test_offline_scheduling_runs_side_work_last_when_it_is_faster():
    """Trace order: the vector unit runs the cast 0..48, then the relu 48..56, and the GEMM
    waits for the relu: 56..67, 67 cycles. Side work last issues the relu first (ready, on
    the chain), then the GEMM (now ready, on the chain), then the cast: relu 0..8, GEMM
    8..19 and, on the vector unit, cast 8..56: 56 cycles. Offline scheduling tries both,
    keeps side work last and reports both; without it only the trace's order is timed."""
    trace = _backward_step(gemm_needs_the_relu=True)
    on = simulate(trace, IDEAL, _policy(offline=True))
    off = simulate(trace, IDEAL, _policy(offline=False))
    assert (on.cycles, on.order, on.orders_tried) == (
        56, "side work last", {"trace order": 67, "side work last": 56})
    assert _rows(on) == {1: (0, 8), 2: (8, 19), 0: (8, 56)}
    assert (off.cycles, off.order, off.orders_tried) == (67, "trace order", {"trace order": 67})
    assert _rows(off) == {0: (0, 48), 1: (48, 56), 2: (56, 67)}


def test_offline_scheduling_keeps_the_trace_order_on_a_tie():
    """The GEMM reads nothing the relu writes: in trace order it runs 0..11 beside the cast
    (0..48) and the relu (48..56): 56 cycles; side work last (relu 0..8, GEMM 0..11, cast
    8..56) also takes 56. A tie keeps the trace's order."""
    trace = _backward_step(gemm_needs_the_relu=False)
    run = simulate(trace, IDEAL, _policy(offline=True))
    assert (run.cycles, run.order, run.orders_tried) == (
        56, "trace order", {"trace order": 56, "side work last": 56})


# -- pregenerate -------------------------------------------------------------------------------

# The memory above, a 1 KiB buffer for the SORE's streams, and a SORE of 4 lanes: a group of
# M = 4 weights takes 4 cycles on a lane, so 4 groups take 4 cycles.
WITH_SORE = load_hardware("sat-small", [
    ("clock_mhz", 1000), ("memory", {**MEMORY, "buffers": {
        **MEMORY["buffers"], "msk": {**_BUFFER, "holds": ["masks"]}}}),
    ("array.rows", 4), ("array.cols", 4), ("sore.lanes", 4), ("vector.lanes", 4),
    ("vector.cycles_per_element.relu", 20)])


def _layer_with_masks() -> Trace:
    """A sparse layer's FF as a capture records it: record 0, the previous layer's relu
    (4 elements: 8 bytes in, 8 out); record 1, the SORE's 2:4 selection of the weight ``w``
    (4 x 4 fp32 master: 64 bytes in; 4 x 2 fp16 values and 2 bytes of index out: 18);
    record 2, the GEMM ``z[1,4] = y[1,4] @ w'`` reading both (A 8 bytes, B 18, C 8)."""
    pattern = NMPattern(2, 4)
    tensors = (_tensor(0, 4), _tensor(1, 1, 4), _tensor(4, 1, 4),
               TensorInfo(id=2, shape=(4, 4), dtype="float32", bytes=64, role=Role.PARAMETER,
                          layer="fc", name="fc.weight"),
               TensorInfo(id=3, shape=(4, 2), dtype="float16", bytes=16, role=Role.COMPRESSED,
                          layer="fc", of=2, nm=pattern),
               TensorInfo(id=5, shape=(4, 2), dtype="uint2", bytes=2, role=Role.INDEX,
                          layer="fc", of=2, nm=pattern))
    return Trace(header=TraceHeader(name="masks"), tensors=tensors, records=(
        VectorOp(phase=Phase.FF, layer="act", op="relu", elements=4, reads=(0,), writes=(1,)),
        MaskGenOp(layer="fc", elements=16, sparsity=pattern, direction="FF", reads=(2,),
                  writes=(3, 5)),
        _gemm(1, 4, 4, sparsity=pattern, a=(1,), b=(3, 5), c=(4,), layer="fc")))


def test_pregeneration_runs_the_sore_beside_the_vector_work():
    """Ops side by side, OS. Every single-cycle transfer starts ``L`` after it is ready.

    On demand, the mask generation follows the relu in their lane: the relu loads 10..11,
    computes 11..31 (one chunk: ceil(4/4) * 20) and stores 41..42; then the SORE loads the
    weight 42..44 (64 bytes: 2 cycles; behind the relu's store on the DMA), selects 44..48
    and stores 58..59. The GEMM waits for both: it loads its A 69..70 and its B 70..71,
    computes one OS fold of the compressed K' = 2 (2 + 4 + 4 - 1 = 9) 71..80 and stores
    90..91: 91 cycles.

    Pre-generated, the SORE's lane starts with the relu's: the relu's load 10..11, then
    the weight's 11..13; the relu computes 11..31 and stores 41..42; the SORE selects
    13..17 and stores 42..43 (ready at 27, behind the relu's store on the DMA). The GEMM
    loads 53..54 and 54..55, computes 55..64, stores 74..75: 75 cycles."""
    trace = _layer_with_masks()
    policy = _policy()
    on_demand = simulate(trace, WITH_SORE, policy)
    ahead = simulate(trace, WITH_SORE, policy.model_copy(update={"pregenerate": True}))
    assert (on_demand.cycles, _rows(on_demand)) == (91, {0: (10, 42), 1: (42, 59),
                                                         2: (69, 91)})
    assert (ahead.cycles, _rows(ahead)) == (75, {0: (10, 42), 1: (11, 43), 2: (53, 75)})
