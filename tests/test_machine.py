"""The machine: the SimPy engine and the one-pass clock execute Programs exactly as the
cycle-stepped reference, on machines with one or several instances of each unit."""

import dataclasses
from types import SimpleNamespace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from satsim.machine.costs import Machine, Port
from satsim.machine.program import (
    Access,
    Compute,
    Hold,
    MaskJob,
    Program,
    Task,
    Transfer,
    Unit,
    VectorJob,
)
from satsim.report.timeline import chrome_trace
from satsim.timing.accounting import op_timings, unit_busy
from satsim.timing.clock import UNIT_AT, Clock
from satsim.timing.engine import execute
from satsim.timing.machine_reference import run_reference
from satsim.timing.timeline import BufferOverflow, Timeline, peaks

MACHINE = Machine(dram_channels=2, dram_bytes_per_cycle=4, dram_latency_cycles=3,
                  sore_lanes=2, vector_lanes=4)

BUFFERS = ("act", "wgt")
ports = st.builds(Port, bytes_per_cycle=st.integers(1, 24), dual=st.booleans())


@st.composite
def machines(draw, least: int = 1):
    """Random lanes, channels, latency and ports, with ``least``-3 instances of each unit
    (the DRAM's: DMA queues of 1-3 channels each)."""
    counts = {unit: draw(st.integers(least, 3)) for unit in Unit}
    return Machine(dram_channels=counts[Unit.DRAM] * draw(st.integers(1, 3)),
                   dram_bytes_per_cycle=draw(st.integers(1, 16)),
                   dram_latency_cycles=draw(st.integers(0, 6)),
                   sore_lanes=draw(st.integers(1, 4)), vector_lanes=draw(st.integers(1, 8)),
                   ports=draw(st.tuples(*(st.tuples(st.just(b), ports) for b in BUFFERS))),
                   instances=tuple(counts.items()))


accesses = st.lists(st.builds(Access, buffer=st.sampled_from(BUFFERS),
                              read=st.integers(0, 300), write=st.integers(0, 300)),
                    max_size=2, unique_by=lambda a: a.buffer).map(tuple)
works = st.one_of(
    st.builds(Compute, cycles=st.integers(1, 30), access=accesses),
    st.builds(Transfer, bytes=st.integers(1, 200), write=st.booleans(),
              buffer=st.sampled_from((None, *BUFFERS))),
    st.builds(MaskJob, groups=st.integers(1, 12), m=st.integers(2, 8), access=accesses),
    st.builds(VectorJob, elements=st.integers(1, 40), cycles_per_element=st.integers(1, 4),
              access=accesses),
)


@st.composite
def programs(draw, machine: Machine, capacity: int | None = None, size: tuple = (2, 20)):
    """``size`` (fewest, most) tasks on random units, each depending on a random set of
    earlier tasks and holding random space of two buffers until itself or a later task ends;
    a work object is sometimes reused by a later task (the scheduler's steps share theirs).
    Each unit's first task runs on its instance 0, its second on instance 1 if it has two
    (every unit with two tasks uses several instances), the rest on random ones."""
    n = draw(st.integers(*size))
    tasks: list[Task] = []
    placed = dict.fromkeys(Unit, 0)  # per unit, its tasks so far
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        holds = [Hold(buffer, draw(st.integers(1, 64)), draw(st.integers(i, n - 1)))
                 for buffer in draw(st.lists(st.sampled_from(["act", "wgt"]), max_size=2,
                                             unique=True))]
        work = (tasks[draw(st.integers(0, i - 1))].work if i and draw(st.booleans())
                else draw(works))
        count, placed[work.unit] = machine.count[work.unit], placed[work.unit] + 1
        instance = (placed[work.unit] - 1 if placed[work.unit] <= min(2, count)
                    else draw(st.integers(0, count - 1)))
        tasks.append(Task(i, work, tuple(sorted(deps)), tuple(holds), instance=instance))
    size = capacity if capacity is not None else draw(st.integers(64, 64 * n))
    return Program(tuple(tasks), dict.fromkeys(BUFFERS, size))


@st.composite
def cases(draw, least: int = 1, capacity: int | None = None):
    """A machine with ``least``-3 instances of each unit and a Program on it; with several,
    a Program of 24-40 tasks that uses two instances or more of every unit."""
    machine = draw(machines(least))
    program = draw(programs(machine, capacity, (2, 20) if least == 1 else (24, 40)))
    if least > 1:
        assume(all(len({t.instance for t in program.on(unit)}) > 1 for unit in Unit))
    return program, machine


def clocked(program: Program, machine: Machine) -> Clock:
    """The one-pass clock, handed the Program's tasks in Program order as the emitter does."""
    clock = Clock(machine)
    for task in program.tasks:
        clock.task(task.work, list(task.deps), task.op, task.phase, task.label, task.instance)
    return clock


def run_clock(program: Program, machine: Machine) -> Timeline:
    """The clock's timeline, its buffer peaks from its starts and ends."""
    clock = clocked(program, machine)
    return Timeline(tuple(clock.start), tuple(clock.end),
                    peaks(program, clock.start, clock.end))


def timeline(program: Program, machine: Machine, run) -> tuple | str:
    try:
        t = run(program, machine)
    except BufferOverflow as exc:
        return f"overflow: {exc}"
    return t.start, t.end, t.peak_bytes


@pytest.mark.parametrize("least", [1, 2])
@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_engine_and_clock_equal_machine_reference(least, data):
    """Every task starts and ends in the same cycle in all three, the buffers peak at the
    same bytes, and a Program that overflows a buffer is rejected by all three; the clock's
    busy cycles per unit, summed over its instances, are the timeline's. ``least``: the
    fewest instances of each unit (2: 300 Programs that use several of every kind)."""
    program, machine = data.draw(cases(least))
    reference = timeline(program, machine, run_reference)
    assert timeline(program, machine, execute) == reference
    assert timeline(program, machine, run_clock) == reference
    clock = clocked(program, machine)  # every task's op: None
    busy = unit_busy(SimpleNamespace(program=program),
                     Timeline(tuple(clock.start), tuple(clock.end), {}), machine)
    assert {unit: clock.tally[None][UNIT_AT[unit]] for unit in Unit} == busy


@pytest.mark.parametrize("least", [1, 2])
@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data(),
       faster=st.sampled_from(["dram_channels", "dram_bytes_per_cycle", "sore_lanes",
                               "vector_lanes", "latency", "ports", "dual"]))
def test_more_resources_never_delay_a_task(least, data, faster):
    """With each instance's order fixed, more channels (one more per DMA queue), bandwidth
    or lanes, wider or dual bank ports, or a shorter DRAM latency, end no task later, on
    one or several instances of each unit (``least``, as above)."""
    program, machine = data.draw(cases(least, capacity=10**9))
    if faster == "dram_channels":
        better = dataclasses.replace(machine, dram_channels=machine.dram_channels
                                     + machine.count[Unit.DRAM])
    elif faster == "latency":
        better = dataclasses.replace(machine, dram_latency_cycles=0)
    elif faster in ("ports", "dual"):
        better = dataclasses.replace(machine, ports=tuple(
            (name, Port(p.bytes_per_cycle + (faster == "ports"), p.dual or faster == "dual"))
            for name, p in machine.ports))
    else:
        better = dataclasses.replace(machine, **{faster: getattr(machine, faster) + 1})
    slow, fast = execute(program, machine), execute(program, better)
    assert all(f <= s for f, s in zip(fast.end, slow.end, strict=True))


def test_transfer_latency_overlaps_the_previous_transfer():
    """Two 16-byte loads, ready at once, on 2 channels x 4 B/cycle with latency 3: the first
    streams in cycles 3-4, the second's latency has passed by then, so it follows at once
    (5-6); a store depending on a 6-cycle compute after the first load is ready at 11 and
    streams from 14."""
    program = Program((
        Task(0, Transfer(16, write=False)),
        Task(1, Transfer(16, write=False)),
        Task(2, Compute(6), deps=(0,)),
        Task(3, Transfer(8, write=True), deps=(2,)),
    ))
    t = execute(program, MACHINE)
    assert list(zip(t.start, t.end, strict=True)) == [(3, 5), (5, 7), (5, 11), (14, 15)]


def test_bank_ports_pace_transfers_and_units():
    """Port of 5 B/cycle on ``act``, dual-ported on ``wgt`` (3 B/cycle each way), and
    2 channels x 4 B/cycle with latency 3: a 16-byte load into act has its data in 2 cycles
    but the port takes ceil(16 / 5) = 4 (cycles 3-7); a 6-cycle compute reading 40 bytes of
    act (8 cycles) and reading 9 / writing 12 bytes of wgt (4 cycles) runs 7-15; a 16-byte
    store from wgt: ceil(16 / 3) = 6 cycles once its latency has passed (18-24)."""
    machine = dataclasses.replace(MACHINE, ports=(("act", Port(5)), ("wgt", Port(3, True))))
    program = Program((
        Task(0, Transfer(16, write=False, buffer="act")),
        Task(1, Compute(6, (Access("act", read=40), Access("wgt", read=9, write=12))),
             deps=(0,)),
        Task(2, Transfer(16, write=True, buffer="wgt"), deps=(1,)),
    ), buffers={"act": 64, "wgt": 64})
    t = execute(program, machine)
    assert list(zip(t.start, t.end, strict=True)) == [(3, 7), (7, 15), (18, 24)]
    reference = run_reference(program, machine)
    assert (t.start, t.end) == (reference.start, reference.end)


def test_lane_units_deal_work_round_robin():
    """A SORE job of 5 groups of 8 on 2 lanes: 3 rounds of 8 cycles; a vector job of
    9 elements x 2 cycles on 4 lanes: 3 rounds of 2 cycles, after the mask it needs."""
    program = Program((Task(0, MaskJob(groups=5, m=8)),
                       Task(1, VectorJob(elements=9, cycles_per_element=2), deps=(0,))))
    t = execute(program, MACHINE)
    assert (t.start, t.end) == ((0, 24), (24, 30))


def test_freed_space_is_reusable_in_the_same_cycle():
    """A 64-byte buffer: load A (held until compute 1 ends), compute 1, load B (held until
    compute 2). B depends on compute 1, so it takes the space the moment A's is freed."""
    program = Program((
        Task(0, Transfer(8, write=False), holds=(Hold("act", 64, until=1),)),
        Task(1, Compute(4), deps=(0,)),
        Task(2, Transfer(8, write=False), deps=(1,), holds=(Hold("act", 64, until=3),)),
        Task(3, Compute(4), deps=(2,)),
    ), buffers={"act": 64})
    t = execute(program, MACHINE)
    assert t.end[1] == t.start[2] - MACHINE.dram_latency_cycles
    assert t.peak_bytes == {"act": 64} == run_reference(program, MACHINE).peak_bytes


def test_overflowing_a_buffer_is_an_error():
    """Two loads held at once in a buffer that fits one: the second starts in cycle 4, when
    the first (latency 3, one cycle of data) has left the channels."""
    program = Program((
        Task(0, Transfer(8, write=False), holds=(Hold("act", 40, until=2),)),
        Task(1, Transfer(8, write=False), holds=(Hold("act", 40, until=2),)),
        Task(2, Compute(1), deps=(0, 1)),
    ), buffers={"act": 64})
    with pytest.raises(BufferOverflow, match="buffer act holds 80 bytes in cycle 4"):
        execute(program, MACHINE)


@pytest.mark.parametrize(("tasks", "message"), [
    ((Task(0, Compute(1), deps=(0,)),), "depends on a task that is not earlier"),
    ((Task(1, Compute(1)),), "sits at position 0"),
    ((Task(0, Transfer(0, write=False)),), "has no work"),
    ((Task(0, Compute(1), holds=(Hold("act", 1, until=5),)),), "not a later task"),
])
def test_malformed_programs_are_rejected(tasks, message):
    """The Program checks its own order, dependencies, holdings and work."""
    with pytest.raises(ValueError, match=message):
        Program(tasks, {"act": 8})


MODELS = [execute, run_reference, run_clock]
TWO_OF_EACH = dataclasses.replace(MACHINE, instances=tuple((unit, 2) for unit in Unit))


def when(program: Program, machine: Machine, run) -> list[tuple[int, int]]:
    t = run(program, machine)
    return list(zip(t.start, t.end, strict=True))


@pytest.mark.parametrize("run", MODELS)
def test_two_instances_run_independent_tasks_at_once(run):
    """Two STCEs: two independent 5-cycle computes, one on each, both run in cycles 0-5
    (the two tasks share one work object: the instance is the task's); a SORE job on
    instance 1 and a vector job on instance 0 of theirs run beside them."""
    work = Compute(5)
    program = Program((Task(0, work), Task(1, work, instance=1),
                       Task(2, MaskJob(groups=2, m=3), instance=1),
                       Task(3, VectorJob(elements=4, cycles_per_element=2))))
    assert when(program, TWO_OF_EACH, run) == [(0, 5), (0, 5), (0, 3), (0, 2)]


@pytest.mark.parametrize("run", MODELS)
def test_one_instance_runs_its_tasks_one_after_the_other(run):
    """The same two computes both on instance 0 of two STCEs: the second waits for the
    first (5-10); a third on instance 1 that depends on the first starts when it ends."""
    work = Compute(5)
    program = Program((Task(0, work), Task(1, work), Task(2, Compute(2), deps=(0,), instance=1)))
    assert when(program, TWO_OF_EACH, run) == [(0, 5), (5, 10), (5, 7)]


@pytest.mark.parametrize("run", MODELS)
def test_two_dma_queues_each_take_half_the_channels(run):
    """4 channels x 4 B/cycle, latency 3. Two DMA queues own 2 channels each: two 32-byte
    loads, one per queue, move 16 bytes per channel at once (cycles 3-7). One queue owns
    all 4: the loads take 2 cycles each, one after the other (3-5, 5-7)."""
    four = dataclasses.replace(MACHINE, dram_channels=4)
    program = Program((Task(0, Transfer(32, write=False)),
                       Task(1, Transfer(32, write=False), instance=1)))
    queues = dataclasses.replace(four, instances=((Unit.DRAM, 2),))
    assert when(program, queues, run) == [(3, 7), (3, 7)]
    shared = Program(tuple(dataclasses.replace(t, instance=0) for t in program.tasks))
    assert when(shared, four, run) == [(3, 5), (5, 7)]


@pytest.mark.parametrize("run", MODELS)
@pytest.mark.parametrize("instance", [1, -1])
def test_an_instance_the_machine_lacks_is_an_error(run, instance):
    """A task on STCE instance 1 (or -1) of a machine with one STCE is refused, whichever
    model times it."""
    program = Program((Task(0, Compute(1)), Task(1, Compute(1), instance=instance)))
    with pytest.raises(ValueError, match=f"stce instance {instance}, but the machine has 1"):
        run(program, MACHINE)


@pytest.mark.parametrize(("instances", "message"), [
    (((Unit.DRAM, 3),), "2 DRAM channels cannot be divided equally among 3 DMA queues"),
    (((Unit.STCE, 0),), "at least one instance"),
    (((Unit.STCE, 2), (Unit.STCE, 3)), "each named once"),
])
def test_impossible_instance_counts_are_rejected(instances, message):
    """A unit has at least one instance, is counted once, and the DRAM's channels divide
    equally among its DMA queues."""
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(MACHINE, instances=instances)


def test_the_timeline_has_a_track_per_instance_and_channel():
    """Two STCEs and two DMA queues over 2 channels: a track per STCE instance, each
    compute on its own; queue 1's load on channel 1, the queue's only channel, with its own
    bandwidth counter."""
    program = Program((Task(0, Compute(4)), Task(1, Compute(4), instance=1),
                       Task(2, Transfer(8, write=False), instance=1)))
    machine = dataclasses.replace(MACHINE, instances=((Unit.STCE, 2), (Unit.DRAM, 2)))
    doc = chrome_trace(SimpleNamespace(program=program), execute(program, machine), machine,
                       100.0, "two")
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"]
             if e["name"] == "thread_name"}
    assert names == {1: "STCE (PE array) 0", 1001: "STCE (PE array) 1",
                     10: "DRAM channel 0 (DMA queue 0)", 11: "DRAM channel 1 (DMA queue 1)"}
    work = [(e["tid"], e["args"]["task"]) for e in doc["traceEvents"] if e["ph"] == "X"]
    assert work == [(1, 0), (1001, 1), (11, 2)]
    assert {e["name"] for e in doc["traceEvents"] if e["ph"] == "C"} == {
        "DMA queue 1 bandwidth (GB/s)"}


def test_a_record_on_a_free_instance_does_not_wait_for_the_other():
    """Two STCEs: record 0 computes 0-5 on instance 0, record 1 (no inputs) 0-3 on instance 1,
    record 2 after record 0 on instance 1 (5-7): record 1 neither waited for its unit nor
    sat idle; record 2's instance sat idle 3-5 waiting for its input, record 0."""
    program = Program((Task(0, Compute(5), op=0), Task(1, Compute(3), op=1, instance=1),
                       Task(2, Compute(2), deps=(0,), op=2, instance=1)))
    ops = {i: SimpleNamespace(tasks=[i], inputs=[0] if i == 2 else [], dram_read_bytes=0,
                              dram_write_bytes=0) for i in range(3)}
    rows = op_timings(SimpleNamespace(program=program, ops=ops), execute(program, TWO_OF_EACH),
                      TWO_OF_EACH)
    assert [(r.start, r.end, r.stall_unit, r.stall_dep) for r in rows] == [
        (0, 5, 0, 0), (0, 3, 0, 0), (5, 7, 0, 2)]
