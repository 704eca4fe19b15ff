"""The plain schedule: trace records as a Program the machine executes."""


import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.machine.costs import Machine
from satsim.machine.program import Unit
from satsim.resources import shipped
from satsim.search.evaluate import plan
from satsim.timing.engine import execute
from satsim.trace.io import read_trace
from satsim.trace.schema import GemmOp, MaskGenOp, Trace, TraceHeader, VectorOp
from satsim.types import NMPattern, Phase

# The SAT preset on ideal memory (its own memory system: WITH_MEMORY below).
SAT, POLICY = load_hardware("sat", [("memory", "ideal")]), load_dataflow("sat")
GEMMS_ONLY = load_hardware("sat", [("routes.maskgen", "untimed"), ("routes.vector", "untimed"),
                                   ("routes.update", "untimed"), ("memory", "ideal")])
TRACES = sorted(shipped("workloads", (".jsonl",)))


def machine(hw) -> Machine:
    return Machine(dram_channels=1, dram_bytes_per_cycle=1, dram_latency_cycles=0,
                   sore_lanes=hw.maskgen.lanes if hw.maskgen else 1,
                   vector_lanes=hw.vector.lanes if hw.vector else 1)


@pytest.mark.parametrize("name", TRACES)
def test_gemms_alone_on_ideal_memory_keep_the_closed_forms(name):
    """Ideal memory, SORE and vector unit off: every GEMM's parts run back to back in trace
    order on the STCE, each taking its closed form: a GEMM ends at the sum of the mapped
    cycles of the GEMMs up to it."""
    trace = read_trace(shipped("workloads", (".jsonl",))[name])
    p = plan(trace, GEMMS_ONLY, POLICY)
    t = execute(p.program, machine(GEMMS_ONLY))
    ends = {}
    for task in p.program.tasks:
        ends[task.op] = t.end[task.id]
    expected, clock = {}, 0
    for index, record in enumerate(trace.records):
        if isinstance(record, GemmOp):
            clock += p.ops[index].mapping.cycles
            expected[index] = clock
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
        hw = load_hardware("sat", [("numerics.operand", operand), ("memory", "ideal")])
        p = plan(trace, hw, POLICY)
        costs[operand] = {t.work.cycles_per_element for t in p.program.tasks
                          if t.phase is Phase.WU}
    assert costs == {"fp16": {3}, "fp32": {2}}


# -- with DRAM and buffers ---------------------------------------------------------------------

MEMORY = {"dram": {"channels": 4, "gbps_per_channel": 19.2, "efficiency": 0.8, "latency_ns": 100},
          "buffers": {"act": {"kib": 1024, "holds": ["activations"],
                              "bytes_per_cycle": 1024, "ports": 2},
                      "wgt": {"kib": 512, "holds": ["weights"],
                              "bytes_per_cycle": 512, "ports": 2},
                      "out": {"kib": 512, "holds": ["outputs"],
                              "bytes_per_cycle": 512, "ports": 2},
                      "vec": {"kib": 256, "holds": ["vector"],
                              "bytes_per_cycle": 256, "ports": 2},
                      "msk": {"kib": 128, "holds": ["masks"],
                              "bytes_per_cycle": 128, "ports": 2}}}
WITH_MEMORY = load_hardware("sat", [("memory", MEMORY)])
# Single-buffered activations and vector streams: loads no longer run ahead.
MIXED = load_hardware("sat", [("memory", MEMORY), ("memory.buffers.act.double_buffer", False),
                              ("memory.buffers.vec.double_buffer", False)])
# Narrow single-ported banks: transfers and units wait on the buffers' ports.
NARROW = load_hardware("sat", [("memory", MEMORY), *(
    (f"memory.buffers.{b}.{k}", v) for b in MEMORY["buffers"]
    for k, v in (("bytes_per_cycle", 96), ("ports", 1)))])


@pytest.fixture(scope="module")
def resnet18_memory():
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"])
    p = plan(trace, WITH_MEMORY, POLICY)
    return trace, p, execute(p.program, Machine.from_hardware(WITH_MEMORY))


def test_tiles_conserve_macs_and_move_every_operand(resnet18_memory):
    """Every GEMM's tiles execute exactly its mapping's MACs, store its result exactly once
    and read each operand at least once; streamed work reads and writes its tensors once."""
    trace, p, _ = resnet18_memory
    from satsim.schedule.tiling import FORMAT_BYTES, Sizes, gemm_bytes
    sizes = Sizes(trace, WITH_MEMORY)
    for i, record in enumerate(trace.records):
        op = p.ops[i]
        if isinstance(record, GemmOp):
            need = gemm_bytes(record, sizes, FORMAT_BYTES["fp16"])
            assert op.macs == op.mapping.macs
            assert op.dram_write_bytes == need.c
            assert op.dram_read_bytes >= need.a + need.b
        else:
            assert op.dram_read_bytes == sizes.total(record.reads)
            assert op.dram_write_bytes == sizes.total(record.writes)


def test_a_run_is_bounded_by_compute_and_by_bandwidth(resnet18_memory):
    """Cycles >= the STCE's busy cycles and >= DRAM bytes / peak bytes per cycle."""
    _, p, t = resnet18_memory
    m = Machine.from_hardware(WITH_MEMORY)
    stce = sum(t.end[x.id] - t.start[x.id] for x in p.program.on(Unit.STCE))
    moved = sum(op.dram_read_bytes + op.dram_write_bytes for op in p.ops.values())
    assert t.cycles >= stce
    assert t.cycles >= moved / (m.dram_channels * m.dram_bytes_per_cycle)
    assert stce < 1.01 * sum(op.mapping.cycles for op in p.ops.values() if op.mapping)


@pytest.mark.parametrize("knob", ["dram_channels", "dram_bytes_per_cycle", "sore_lanes",
                                  "vector_lanes"])
def test_more_bandwidth_or_lanes_never_slow_a_real_schedule(resnet18_memory, knob):
    """SAT's schedule (every optimization on) of resnet18-cifar bdwp: one more channel, byte
    per cycle or lane ends no task later (the Program is the same; only busy cycles
    shrink)."""
    _, p, t = resnet18_memory
    m = Machine.from_hardware(WITH_MEMORY)
    faster = execute(p.program, dataclasses.replace(m, **{knob: getattr(m, knob) + 1}))
    assert all(f <= s for f, s in zip(faster.end, t.end, strict=True))


# One more of each resource of the SAT preset (double, or half the latency).
MORE = [("memory.dram.channels", 8), ("memory.dram.gbps_per_channel", 38.4),
        ("memory.dram.latency_ns", 50), ("sore.lanes", 64), ("vector.lanes", 64),
        *((f"memory.buffers.{b}.{k}", 2 * kib) for b, kib in
          (("act", 1024), ("wgt", 512), ("out", 512), ("vec", 256), ("msk", 128))
          for k in ("kib", "bytes_per_cycle"))]
SWITCHES = list(itertools.product((False, True), repeat=3))


@pytest.mark.parametrize(("at", "switches"), list(enumerate(SWITCHES)))
def test_an_optimized_schedule_never_slows_with_more_resources(at, switches):
    """SAT's preset runs ResNet-9 bdwp under a combination of the three optimizations; the
    schedule chosen (issue order, tiles, loop orders, chunks, stationarities) then runs on
    the preset with one resource doubled: no record ends later. Two resources per
    combination, all of them over the eight: DRAM channels, bandwidth, half the latency,
    SORE and vector lanes, and each buffer's capacity and port width. A bigger buffer leaves
    the run as it was: the schedule's tiles and chunks do not use the room (only a new
    search can, and it is not monotone: docs/microarchitecture.md)."""
    from satsim.search.evaluate import evaluate
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet9-cifar-bdwp"])
    interleave, offline, ahead = switches
    policy = load_dataflow("sat").model_copy(update={
        "interleave": interleave, "offline_schedule": offline, "pregenerate": ahead})
    base = evaluate(trace, load_hardware("sat"), policy)
    ends = {row.record: row.end for row in base.rows}
    for path, value in (MORE[2 * at % len(MORE)], MORE[(2 * at + 1) % len(MORE)]):
        more = evaluate(trace, load_hardware("sat", [(path, value)]), policy, base.schedule)
        if path.endswith(".kib"):
            assert more.rows == base.rows, path
        assert more.cycles <= base.cycles, path
        assert all(row.end <= ends[row.record] for row in more.rows), path


def test_a_buffer_too_small_for_one_tile_is_an_error():
    """A 1 KiB double-buffered output buffer (512-byte slots) cannot hold the 32 x 32 fp32
    partial sums of one fold, however the reduction is sliced."""
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet18-cifar-dense"])
    tiny = load_hardware("sat", [("memory", MEMORY), ("memory.buffers.out.kib", 1)])
    with pytest.raises(SatsimError, match=r"memory\.buffers\.out\.kib: record 0 \(conv1, "
                                          r"FF\): its smallest outputs tile \(\d+ bytes"):
        plan(trace, tiny, POLICY)


def test_small_schedules_equal_the_machine_reference(tiny_gpt2):
    """A tiny GPT-2 training step (bdwp 2:4) on a 4x4 array with 2-4 KiB buffers, double
    buffered under every combination of interleaving, offline scheduling and pre-generation,
    and single buffered with all three: the schedule's Program runs to the same cycle for
    every task in the SimPy engine and in the cycle-stepped reference, and the one-pass
    clock (which skips repeating periods) gives the reference's per-record timings."""
    from satsim.search.evaluate import evaluate
    from satsim.timing.accounting import op_timings
    from satsim.timing.machine_reference import run_reference
    trace = tiny_gpt2
    switches = list(itertools.product((True, False), repeat=3))
    for double, (interleave, offline, ahead) in [(True, s) for s in switches] + [
            (False, (True, True, True))]:
        policy = POLICY.model_copy(update={"interleave": interleave,
                                           "offline_schedule": offline,
                                           "pregenerate": ahead})
        memory = {"dram": {"channels": 2, "gbps_per_channel": 0.8, "efficiency": 1.0,
                           "latency_ns": 20},
                  "buffers": {"act": {"kib": 2, "holds": ["activations", "outputs"],
                                      "bytes_per_cycle": 8, "double_buffer": double},
                              "wgt": {"kib": 2, "holds": ["weights"], "bytes_per_cycle": 3,
                                      "ports": 2, "double_buffer": double},
                              "vec": {"kib": 4, "holds": ["vector"], "bytes_per_cycle": 16,
                                      "double_buffer": double},
                              "msk": {"kib": 1, "holds": ["masks"], "bytes_per_cycle": 4,
                                      "double_buffer": double}}}
        hw = load_hardware("sat-small", [("memory", memory), ("array.rows", 4),
                                         ("array.cols", 4), ("sore.lanes", 4),
                                         ("vector.lanes", 4)])
        # The search's run (tiles chosen afresh) and the Program of the schedule it chose
        # (tiles replayed): one tile search, both paths checked against the reference.
        fast = evaluate(trace, hw, policy)
        p = plan(trace, hw, policy, schedule=fast.schedule)
        m = Machine.from_hardware(hw)
        engine, reference = execute(p.program, m), run_reference(p.program, m)
        assert len(p.program.on(Unit.DRAM)) > 50
        assert (engine.start, engine.end, engine.peak_bytes) == (
            reference.start, reference.end, reference.peak_bytes)
        assert fast.rows == op_timings(p, reference, m)
        assert (fast.cycles, fast.peak_bytes) == (reference.cycles, reference.peak_bytes)


def test_timeline_is_a_valid_chrome_trace(resnet18_memory, tmp_path):
    """The trace-event file loads as JSON, has a track per unit and DRAM channel, no two
    events overlap on one track, every task starts after the tasks it depends on end, and
    the buffer counters never exceed their buffers."""
    import json

    from satsim.report.timeline import chrome_trace
    _, p, t = resnet18_memory
    m = Machine.from_hardware(WITH_MEMORY)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(chrome_trace(p, t, m, WITH_MEMORY.clock_mhz, "resnet18")))
    doc = json.loads(path.read_text())
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert {"STCE (PE array)", "SORE (mask generator)", "vector / weight-update unit",
            "DRAM channel 0", "DRAM channel 3"} <= names
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    by_track: dict[int, list] = {}
    for e in spans:
        by_track.setdefault(e["tid"], []).append((e["args"]["start_cycle"],
                                                  e["args"]["end_cycle"]))
    for track in by_track.values():
        track.sort()
        assert all(a[1] <= b[0] for a, b in zip(track, track[1:], strict=False))
    ends = {e["args"]["task"]: e["args"]["end_cycle"] for e in spans}
    starts = {e["args"]["task"]: e["args"]["start_cycle"] for e in spans}
    for task in p.program.tasks:
        assert all(starts[task.id] >= ends[d] for d in task.deps)
    capacity = {f"buffer {b} (KiB)": n / 1024 for b, n in p.program.buffers.items()}
    for e in doc["traceEvents"]:
        if e["ph"] == "C" and e["name"] in capacity:
            assert e["args"]["KiB"] <= capacity[e["name"]]


def test_every_idle_cycle_of_a_unit_is_attributed(resnet18_memory):
    """Per unit, the records' busy cycles plus their DRAM, mask and dependency stalls add up
    to the unit's last end exactly; with memory, the STCE waits on DRAM, and the stalls of an
    ideal-memory run are never DRAM's."""
    from satsim.timing.accounting import op_timings, unit_busy
    trace, p, t = resnet18_memory
    m = Machine.from_hardware(WITH_MEMORY)
    rows = op_timings(p, t, m)
    assert len(rows) == len(trace.records)
    for unit in (Unit.STCE, Unit.SORE, Unit.VECTOR):
        mine = [r for r in rows if r.unit is unit]
        covered = sum(r.busy + r.stall_dram + r.stall_mask + r.stall_dep + r.stall_buffer
                      for r in mine)
        assert covered == max(t.end[x.id] for x in p.program.on(unit))
        assert sum(r.busy for r in mine) == unit_busy(p, t, m)[unit]
    assert sum(r.stall_dram for r in rows if r.unit is Unit.STCE) > 0
    ideal = plan(trace, SAT, POLICY)
    assert all(r.stall_dram == 0 for r in op_timings(
        ideal, execute(ideal.program, machine(SAT)), machine(SAT)))


@pytest.mark.parametrize("name", ["resnet9-cifar-bdwp", "vit-tiny-srste", "resnet18-cifar-dense",
                                  "vgg16-cifar-bdwp", "resnet50-imagenet-srste"])
@pytest.mark.parametrize("memory", ["double", "mixed", "narrow", None])
def test_the_one_pass_clock_equals_the_simpy_engine(name, memory):
    """Timing the schedule as it is emitted gives, record by record, the start, end, busy
    cycles, stalls and bytes of building the Program and executing it with SimPy, and the
    same cycles, unit busy cycles and buffer peaks, double or single buffered or with narrow
    bank ports, though with memory it times only a part of the tasks one by one (it skips
    repeating periods of identical steps)."""
    from satsim.search.evaluate import evaluate
    from satsim.timing.accounting import op_timings, unit_busy
    trace = read_trace(shipped("workloads", (".jsonl",))[name])
    hw = {"double": WITH_MEMORY, "mixed": MIXED, "narrow": NARROW, None: SAT}[memory]
    # The search's own run (tiles chosen afresh), against the Program built from the
    # schedule it chose (tiles replayed): one tile search, and both paths cross-checked.
    run = evaluate(trace, hw, POLICY)
    p = plan(trace, hw, POLICY, schedule=run.schedule)
    m = Machine.from_hardware(hw)
    t = execute(p.program, m)
    assert run.rows == op_timings(p, t, m)
    assert (run.cycles, run.busy, run.peak_bytes) == (t.cycles, unit_busy(p, t, m),
                                                      t.peak_bytes)
    if memory == "narrow":
        assert sum(r.stall_buffer for r in run.rows) > 0
    assert run.tasks == len(p.program.tasks)
    assert run.timed < run.tasks if memory else run.timed == run.tasks


def test_ops_side_by_side_skip_their_periods_together(monkeypatch):
    """A GEMM, a vector stream and pre-generated masks take turns on the DMA; once their
    turns repeat, the one-pass clock skips whole periods of all of them at once: the same
    run as timing every turn, with fewer tasks timed one by one."""
    from satsim.schedule import skip
    from satsim.search.evaluate import timed
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet9-cifar-bdwp"])
    order = list(range(len(trace.records)))
    together = timed(trace, WITH_MEMORY, POLICY, order)
    monkeypatch.setattr(skip.Together, "after", lambda self, ops, stepped: False)
    turn_by_turn = timed(trace, WITH_MEMORY, POLICY, order)
    assert together.rows == turn_by_turn.rows
    assert (together.cycles, together.busy, together.peak_bytes, together.tasks) == (
        turn_by_turn.cycles, turn_by_turn.busy, turn_by_turn.peak_bytes, turn_by_turn.tasks)
    assert together.timed < turn_by_turn.timed


def test_action_counts_add_up(resnet18_memory):
    """Per GEMM: the MACs counted are its mapping's, gated slots and multiplexer selects
    never negative and selects only on N:M ops; per op, DRAM bytes are its loads and stores,
    and every byte loaded from DRAM is written into a buffer; SORE compares are n per weight
    of each mask generated."""
    trace, p, _ = resnet18_memory
    for i, record in enumerate(trace.records):
        op = p.ops[i]
        acts = op.actions
        assert all(count >= 0 for count in acts.values())
        assert acts.get(("dram", "read_bytes"), 0) == op.dram_read_bytes
        assert acts.get(("dram", "write_bytes"), 0) == op.dram_write_bytes
        written = sum(n for (unit, what), n in acts.items()
                      if unit.startswith("buffer:") and what == "write_bytes")
        assert written >= op.dram_read_bytes
        if isinstance(record, GemmOp):
            assert acts[("stce", "mac")] == op.mapping.macs
            assert (acts[("stce", "mux_select")] > 0) == (op.mapping.pattern is not None)
        if isinstance(record, MaskGenOp):
            groups = -(-record.elements // record.sparsity.m)
            assert acts[("sore", "compare")] == groups * record.sparsity.m * record.sparsity.n


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**12), st.lists(st.integers(1, 10**6), min_size=1, max_size=40),
       st.lists(st.integers(0, 39), max_size=60))
def test_split_gives_the_remainder_to_the_largest_fractions(total, sizes, picks):
    """Bytes in proportion to units (a few distinct sizes, repeated, as tiles come): each
    share rounded down, one more byte to the largest fractions, ties to the later."""
    from satsim.schedule.tiling import split
    units = [sizes[i % len(sizes)] for i in picks] or sizes
    whole = sum(units)
    expected = [total * u // whole for u in units]
    ranked = sorted(range(len(units)), key=lambda i: (total * units[i] % whole, i))
    for i in ranked[len(ranked) - (total - sum(expected)):]:
        expected[i] += 1
    assert split(total, units) == expected


# -- bigger buffers ----------------------------------------------------------------------------

def _memory(kib: dict[str, int], double: bool = True, **dram) -> dict:
    return {"dram": {**MEMORY["dram"], **dram},
            "buffers": {name: {**MEMORY["buffers"][name], "kib": kib[name],
                               "double_buffer": double} for name in MEMORY["buffers"]}}


DEFAULT_KIB = {name: b["kib"] for name, b in MEMORY["buffers"].items()}
# Ops one at a time: with ops interleaved, the DMA's order is chosen by timing (list
# scheduling) and a bigger buffer can change it; the tile rule's guarantee is about the rest.
ONE_OP = load_dataflow("plain")
SMALL_KIB = {"act": 128, "wgt": 64, "out": 32, "vec": 32, "msk": 16}


@pytest.mark.parametrize("name", ["resnet18-cifar-bdwp", "vit-tiny-bdwp", "gpt2-small-bdwp"])
def test_a_bigger_buffer_never_slows_a_real_run(name):
    """Doubling any one buffer never adds a cycle to a shipped trace's run, with the memory
    above (double-buffered) and with one eight times smaller but for the activations,
    single-buffered: tiles and chunks are chosen per op among sizes that fit, and a bigger
    buffer only adds sizes."""
    from satsim.search.evaluate import evaluate
    trace = read_trace(shipped("workloads", (".jsonl",))[name])
    for kib, double in ((DEFAULT_KIB, True), (SMALL_KIB, False)):
        def cycles(sizes, double=double):
            hw = load_hardware("sat", [("memory", _memory(sizes, double))])
            return evaluate(trace, hw, ONE_OP).cycles

        base = cycles(kib)
        for buffer in kib:
            assert cycles({**kib, buffer: 2 * kib[buffer]}) <= base, (buffer, double)


def test_wider_bank_ports_never_slow_a_real_run():
    """ResNet-18 (bdwp) with single-ported 64 B/cycle banks: widening any one buffer's
    ports to 128 B/cycle, or giving it a second port, never adds a cycle (and both save
    cycles somewhere), and the narrow banks are slower than the SAT preset's."""
    from satsim.search.evaluate import evaluate
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"])

    def cycles(**changed):
        hw = load_hardware("sat", [("memory", MEMORY), *(
            (f"memory.buffers.{b}.{k}", v) for b in MEMORY["buffers"]
            for k, v in changed.get(b, {"bytes_per_cycle": 64, "ports": 1}).items())])
        return evaluate(trace, hw, ONE_OP).cycles

    base = cycles()
    assert base > evaluate(trace, WITH_MEMORY, ONE_OP).cycles
    faster = set()
    for buffer in MEMORY["buffers"]:
        for better in ({"bytes_per_cycle": 128, "ports": 1}, {"bytes_per_cycle": 64, "ports": 2}):
            now = cycles(**{buffer: better})
            assert now <= base, (buffer, better)
            if now < base:
                faster.add((buffer, better["ports"]))
    assert {1, 2} <= {ports for _, ports in faster}  # width and a second port both count


def _gemm_chain(shapes) -> Trace:
    """A v1 chain of FF GEMMs ``(m, k / 4, n, batch, 2:4 or dense)``."""
    return Trace(header=TraceHeader(name="random"), records=tuple(
        GemmOp(phase=Phase.FF, layer=f"g{i}", M=m, K=k * 4, N=n, batch=batch, weight="B",
               sparsity=NMPattern(2, 4) if sparse else None)
        for i, (m, k, n, batch, sparse) in enumerate(shapes)))


def _assert_never_slower(small: int | None, big: int | None) -> None:
    """A configuration too small for some tile is an error (None), and stays one only
    while smaller; a bigger one never takes more cycles."""
    assert big is not None or small is None
    assert small is None or big <= small


GEMM_SHAPES = st.tuples(st.integers(1, 160), st.integers(1, 120), st.integers(1, 160),
                        st.integers(1, 2), st.booleans())


@settings(max_examples=30, deadline=None)
@given(st.lists(GEMM_SHAPES, min_size=1, max_size=2),
       st.fixed_dictionaries({b: st.integers(1, 24) for b in DEFAULT_KIB}),
       st.sampled_from(sorted(DEFAULT_KIB)), st.integers(1, 40), st.booleans(),
       st.integers(0, 400), st.sampled_from([0.4, 3.2, 19.2]))
def test_a_bigger_buffer_never_slows_random_gemms(shapes, kib, buffer, more, double,
                                                  latency, gbps):
    """Chains of small (batched, dense or 2:4) GEMMs on a 4x4 array with buffers of a few
    KiB: growing any buffer by any amount never adds a cycle (a configuration too small for
    some tile is an error, and stays one only while smaller)."""
    from satsim.search.evaluate import evaluate
    trace = _gemm_chain(shapes)

    def cycles(sizes):
        hw = load_hardware("sat-small", [
            ("memory", _memory(sizes, double, latency_ns=latency, gbps_per_channel=gbps)),
            ("array.rows", 4), ("array.cols", 4)])
        try:
            return evaluate(trace, hw, ONE_OP).cycles
        except SatsimError:
            return None

    _assert_never_slower(cycles(kib), cycles({**kib, buffer: kib[buffer] + more}))


@settings(max_examples=30, deadline=None)
@given(st.lists(GEMM_SHAPES, min_size=1, max_size=2),
       st.fixed_dictionaries({b: st.tuples(st.integers(1, 64), st.sampled_from([1, 2]))
                              for b in DEFAULT_KIB}),
       st.sampled_from(sorted(DEFAULT_KIB)), st.integers(0, 40), st.booleans())
def test_wider_bank_ports_never_slow_random_gemms(shapes, ports, buffer, more, dual):
    """The same GEMM chains with 4-8 KiB buffers of random bank ports: widening one
    buffer's ports, or giving it a second, never adds a cycle."""
    from satsim.search.evaluate import evaluate
    trace = _gemm_chain(shapes)

    def cycles(widths):
        memory = _memory({b: 8 if b == "act" else 4 for b in DEFAULT_KIB})
        for b, (width, count) in widths.items():
            memory["buffers"][b] |= {"bytes_per_cycle": width, "ports": count}
        hw = load_hardware("sat-small", [("memory", memory), ("array.rows", 4),
                                         ("array.cols", 4)])
        return evaluate(trace, hw, ONE_OP).cycles

    width, count = ports[buffer]
    wider = {**ports, buffer: (width + more, 2 if dual else count)}
    assert cycles(wider) <= cycles(ports)


@pytest.fixture(scope="module")
def tiny_gpt2():
    capture = pytest.importorskip("satsim.capture.capture")
    return capture.capture(capture.CaptureSpec(
        model="gpt2-small", method="bdwp", nm=NMPattern(2, 4), batch=1, steps=1,
        options={"layers": 1, "dim": 16, "heads": 2, "vocab": 32, "context": 8}))


@settings(max_examples=40, deadline=None)
@given(st.fixed_dictionaries({b: st.integers(1, 16) for b in DEFAULT_KIB}),
       st.sampled_from(sorted(DEFAULT_KIB)), st.integers(1, 32), st.booleans(),
       st.integers(0, 400))
def test_a_bigger_buffer_never_slows_a_tiny_training_step(tiny_gpt2, kib, buffer, more,
                                                          double, latency):
    """A tiny GPT-2 training step (GEMMs, vector work, masks and updates streaming through
    the vector buffer) on a 4x4 array with buffers of a few KiB: growing any buffer by any
    amount never adds a cycle."""
    from satsim.search.evaluate import evaluate

    def cycles(sizes):
        hw = load_hardware("sat-small", [
            ("memory", _memory(sizes, double, latency_ns=latency, gbps_per_channel=0.8)),
            ("array.rows", 4), ("array.cols", 4), ("sore.lanes", 4), ("vector.lanes", 4)])
        try:
            return evaluate(tiny_gpt2, hw, ONE_OP).cycles
        except SatsimError:
            return None

    _assert_never_slower(cycles(kib), cycles({**kib, buffer: kib[buffer] + more}))


def test_interleaved_ops_overlap_across_units():
    """With ``interleave`` the vector unit works on ops whose time span overlaps a GEMM's
    on the array (their transfers interleaved on the DMA), and the iteration is shorter;
    one op at a time, no two ops' spans overlap, as every op loads after the previous
    op's last store."""
    from satsim.search.evaluate import evaluate
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"])

    def overlaps(run) -> int:
        spans = sorted((r.start, r.end, r.unit) for r in run.rows if r.unit is not None)
        return sum(1 for (_, end, unit), (start, _, other) in zip(spans, spans[1:],
                                                                  strict=False)
                   if start < end and unit is not other)

    together, alone = evaluate(trace, WITH_MEMORY, POLICY), evaluate(trace, WITH_MEMORY, ONE_OP)
    assert overlaps(together) > 0 and overlaps(alone) == 0
    assert together.cycles < alone.cycles


def _one_gemm(**dims) -> Trace:
    """A CSV-like trace: one FF GEMM of these dims (the rest 64), weight as B."""
    dims = {"M": 64, "K": 64, "N": 64, **dims}
    return Trace(header=TraceHeader(name="g"),
                 records=(GemmOp(phase=Phase.FF, layer="l", weight="B", **dims),))


def test_the_k_slices_of_an_output_tile_are_skipped_exactly():
    """A long reduction sliced under one output tile (K = 2^18: 128 slices) is timed by the
    one-pass clock as by building the Program and executing it with SimPy, record, cycles
    and buffer peaks alike, though it times only a few of the slices one by one."""
    from satsim.search.evaluate import evaluate
    from satsim.timing.accounting import op_timings
    trace = _one_gemm(K=2**18)
    p, m = plan(trace, WITH_MEMORY, POLICY), Machine.from_hardware(WITH_MEMORY)
    t, run = execute(p.program, m), evaluate(trace, WITH_MEMORY, POLICY)
    assert run.rows == op_timings(p, t, m)
    assert (run.cycles, run.peak_bytes) == (t.cycles, t.peak_bytes)
    assert run.tasks == len(p.program.tasks) > 300 and run.timed < 40


@pytest.mark.parametrize("dim", ["M", "K", "N"])
def test_the_tasks_timed_one_by_one_do_not_grow_with_a_dimension(dim):
    """A GEMM 256 times bigger along any one dimension (2^16 -> 2^24) has 256 times the
    tasks, yet the one-pass clock times the same few of them one by one: the repeating tiles
    are accounted for in closed form, so a big dimension runs in seconds."""
    from satsim.search.evaluate import evaluate
    small, big = (evaluate(_one_gemm(**{dim: 2**e}), WITH_MEMORY, POLICY) for e in (16, 24))
    assert big.tasks > 200 * small.tasks
    assert big.timed == small.timed < 40


def test_an_op_beyond_the_step_limit_is_an_error():
    """M = 2^40 (the trace format's limit) cut into tiles that fit the sat preset's buffers
    is more than MAX_STEPS (2^20) tiles: an error naming the record and its dims, not a run
    of hours."""
    with pytest.raises(SatsimError, match=r"record 0 \(l, FF\): M, K, N: every tile size that "
                                          r"fits the buffers cuts this GEMM \(M 1,099,511,627,776,"
                                          r" K 64, N 64, batch 1\) into more than 1,048,576"):
        plan(_one_gemm(M=2**40), WITH_MEMORY, POLICY)
