"""The machine: the SimPy engine executes Programs exactly as the cycle-stepped reference."""

import dataclasses

import pytest
from hypothesis import given, settings
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
    VectorJob,
)
from satsim.timing.engine import execute
from satsim.timing.machine_reference import run_reference
from satsim.timing.timeline import BufferOverflow

MACHINE = Machine(dram_channels=2, dram_bytes_per_cycle=4, dram_latency_cycles=3,
                  sore_lanes=2, vector_lanes=4)

BUFFERS = ("act", "wgt")
ports = st.builds(Port, bytes_per_cycle=st.integers(1, 24), dual=st.booleans())
machines = st.builds(Machine, dram_channels=st.integers(1, 4),
                     dram_bytes_per_cycle=st.integers(1, 16),
                     dram_latency_cycles=st.integers(0, 6), sore_lanes=st.integers(1, 4),
                     vector_lanes=st.integers(1, 8),
                     ports=st.tuples(*(st.tuples(st.just(b), ports) for b in BUFFERS)))
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
def programs(draw, capacity: int | None = None):
    """2-20 tasks on random units, each depending on a random set of earlier tasks and
    holding random space of two buffers until itself or a later task ends."""
    n = draw(st.integers(2, 20))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        holds = [Hold(buffer, draw(st.integers(1, 64)), draw(st.integers(i, n - 1)))
                 for buffer in draw(st.lists(st.sampled_from(["act", "wgt"]), max_size=2,
                                             unique=True))]
        tasks.append(Task(i, draw(works), tuple(sorted(deps)), tuple(holds)))
    size = capacity if capacity is not None else draw(st.integers(64, 64 * n))
    return Program(tuple(tasks), dict.fromkeys(BUFFERS, size))


def timeline(program: Program, machine: Machine, run) -> tuple | str:
    try:
        t = run(program, machine)
    except BufferOverflow as exc:
        return f"overflow: {exc}"
    return t.start, t.end, t.peak_bytes


@settings(max_examples=400, deadline=None, derandomize=True)
@given(program=programs(), machine=machines)
def test_engine_equals_machine_reference(program, machine):
    """Every task starts and ends in the same cycle in both, the buffers peak at the same
    bytes, and a Program that overflows a buffer is rejected by both."""
    assert timeline(program, machine, execute) == timeline(program, machine, run_reference)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(program=programs(capacity=10**9), machine=machines,
       faster=st.sampled_from(["dram_channels", "dram_bytes_per_cycle", "sore_lanes",
                               "vector_lanes", "latency", "ports", "dual"]))
def test_more_resources_never_delay_a_task(program, machine, faster):
    """With each unit's order fixed, more channels, bandwidth or lanes, wider or dual bank
    ports, or a shorter DRAM latency, end no task later."""
    if faster == "latency":
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
