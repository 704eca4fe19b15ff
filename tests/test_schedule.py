"""The plain schedule: trace records as a Program the machine executes."""


import pytest

from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.schedule.plain import plan
from satsim.schedule.program import Unit
from satsim.timing.engine import run_engine
from satsim.timing.machine import execute
from satsim.timing.units import Machine
from satsim.trace.io import read_trace
from satsim.trace.schema import GemmOp, MaskGenOp, Trace, TraceHeader, VectorOp
from satsim.types import NMPattern, Phase

SAT, POLICY = load_hardware("sat"), load_dataflow("sat")
GEMMS_ONLY = load_hardware("sat", [("sore", None), ("vector", None)])
TRACES = sorted(shipped("workloads", (".jsonl",)))


def machine(hw) -> Machine:
    return Machine(dram_channels=1, dram_bytes_per_cycle=1, dram_latency_cycles=0,
                   sore_lanes=hw.sore.lanes if hw.sore else 1,
                   vector_lanes=hw.vector.lanes if hw.vector else 1)


@pytest.mark.parametrize("name", TRACES)
def test_gemms_alone_on_ideal_memory_keep_the_closed_forms(name):
    """Ideal memory, SORE and vector unit off: every GEMM starts and ends exactly where the
    op-by-op engine puts it (its parts back to back, in trace order)."""
    trace = read_trace(shipped("workloads", (".jsonl",))[name])
    p = plan(trace, GEMMS_ONLY, POLICY)
    t = execute(p.program, machine(GEMMS_ONLY))
    ends = {}
    for task in p.program.tasks:
        ends[task.op] = t.end[task.id]
    expected = {op.index: op.end for op in run_engine(trace, GEMMS_ONLY, POLICY)}
    assert ends == expected
    assert set(p.untimed) == {i for i, r in enumerate(trace.records)
                              if not isinstance(r, GemmOp)}


def test_every_record_waits_for_the_writers_of_what_it_reads():
    """On the resnet18-cifar bdwp graph, with every unit timed: a record starts after every
    record that wrote a tensor it reads, and the update of a weight after the GEMMs read it."""
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"])
    p = plan(trace, SAT, POLICY)
    t = execute(p.program, machine(SAT))
    start, end = {}, {}
    for task in p.program.tasks:
        start.setdefault(task.op, t.start[task.id])
        end[task.op] = t.end[task.id]
    base = {x.id: x.view_of for x in trace.tensors if x.view_of is not None}
    writer, checked = {}, 0
    for i, record in enumerate(trace.records):
        for tid in record.reads:
            w = writer.get(base.get(tid, tid))
            if w is not None:
                assert start[i] >= end[w], (i, w)
                checked += 1
        for tid in record.writes:
            writer[tid] = i
    assert checked > 400
    assert {task.unit for task in p.program.tasks} == {Unit.STCE, Unit.SORE, Unit.VECTOR}


def test_mask_generation_and_vector_work_take_their_lane_cycles():
    """A 2:8 mask over 64 x 72 weights is 576 groups of 8 on 32 SORE lanes: 18 rounds of 8
    cycles; a relu over 1000 elements on 32 lanes: 32 rounds of 1 cycle, after the GEMM
    whose output it reads (a v1-style chain: no graph, each record after the previous)."""
    records = (
        MaskGenOp(layer="conv", elements=64 * 72, sparsity=NMPattern(2, 8), direction="FF"),
        GemmOp(phase=Phase.FF, layer="conv", M=10, K=72, N=64, weight="B",
               sparsity=NMPattern(2, 8)),
        VectorOp(phase=Phase.FF, layer="relu", op="relu", elements=1000),
    )
    p = plan(Trace(header=TraceHeader(name="x"), records=records), SAT, POLICY)
    t = execute(p.program, machine(SAT))
    assert t.end[0] == 18 * 8
    assert t.end[2] - t.start[2] == 32 and t.start[2] == t.end[1]


def test_a_vector_op_without_a_cost_is_an_error():
    """The error names the record, the op and the table field to add."""
    trace = Trace(header=TraceHeader(name="x"), records=(
        VectorOp(phase=Phase.FF, layer="l", op="erfinv", elements=4),))
    with pytest.raises(SatsimError, match=r"vector\.cycles_per_element\.erfinv: record 0 "
                                          r"\(l, FF\) is vector op 'erfinv'"):
        plan(trace, SAT, POLICY)


def test_recast_costs_only_when_the_operand_format_is_not_the_master():
    """An update on fp16 operands writes a recast copy (2 + 1 cycles a parameter); with fp32
    operands there is none (2)."""
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet9-cifar-dense"])
    costs = {}
    for operand in ("fp16", "fp32"):
        hw = load_hardware("sat", [("numerics.operand", operand)])
        p = plan(trace, hw, POLICY)
        costs[operand] = {t.work.cycles_per_element for t in p.program.tasks
                          if t.phase is Phase.WU}
    assert costs == {"fp16": {3}, "fp32": {2}}
