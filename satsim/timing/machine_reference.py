"""Cycle-stepped machine reference: the oracle of the SimPy engine for whole Programs.

Every instance of every unit is stepped one clock at a time, with its own physical state and
none of the engine's closed forms:

* each **DMA queue** owns ``C = channels / queues`` of the channels and hands a transfer to
  all of them at once, byte ``i`` to its channel ``i mod C``, once the transfer's latency
  has passed since it became ready and the queue's previous transfer has left every one of
  its channels; each channel moves at most ``bytes_per_cycle`` of its share per cycle;
* a **SORE** deals a job's groups round-robin to its lanes; each busy lane compares one
  weight per cycle against the kept ones, so a group of M takes M cycles;
* a **vector unit** deals a job's elements round-robin to its lanes; each element takes its
  cycles on its lane;
* an **STCE** counts down the fold-run cycles (folds are proven against the array
  reference, :mod:`satsim.timing.reference`);
* every **bank port** a task uses moves at most its bytes per cycle, reads and writes
  together (one port) or each on its own (two) while the unit works; a transfer's port
  writes only bytes the channels have delivered (a load), and the channels send only bytes
  the port has read (a store), in the same cycle at the earliest; a task ends when its unit
  and its ports are done;
* **buffers** hold the bytes of the holdings taken and not yet freed, checked every cycle.

A task starts in the first cycle in which its instance is free and its dependencies have
ended (plus the latency, for transfers), in Program order per instance. Small Programs only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from satsim.machine.costs import Machine, Port
from satsim.machine.program import Compute, MaskJob, Program, Task, Transfer, Unit, VectorJob
from satsim.timing.timeline import BufferOverflow, Timeline

MAX_CYCLES = 1_000_000  # a reference run longer than this is a bug in the test, not a Program


@dataclass
class _Lanes:
    """A job in progress: work left on every lane (cycles, or bytes on a DRAM channel)."""

    left: list[int]
    per_cycle: int = 1

    def step(self) -> bool:
        """One clock on every busy lane; whether the job is done."""
        self.left = [max(0, c - self.per_cycle) for c in self.left]
        return not any(self.left)


@dataclass
class _Port:
    """A bank's port(s) moving a task's bytes alongside its unit's work."""

    read: int
    write: int
    port: Port

    def step(self) -> bool:
        width = self.port.bytes_per_cycle
        if self.port.dual:
            self.read -= min(width, self.read)
            self.write -= min(width, self.write)
        else:
            reads = min(width, self.read)
            self.read -= reads
            self.write -= min(width - reads, self.write)
        return not (self.read or self.write)


@dataclass
class _Job:
    """A non-transfer task's unit work and its bank traffic."""

    lanes: _Lanes
    ports: list[_Port]

    def step(self) -> bool:
        done = self.lanes.step()
        return all([p.step() for p in self.ports]) and done


@dataclass
class _Stream:
    """A transfer: bytes dealt to the channels (byte ``i`` to channel ``i mod C``), passing
    through its bank's port (``width`` None: no port limits it)."""

    bytes: int
    store: bool
    channels: int
    per_cycle: int
    width: int | None
    through_port: int = 0  # bytes the port has written (load) or read (store)
    sent: list[int] = field(init=False)  # per channel, bytes moved

    def __post_init__(self) -> None:
        self.sent = [0] * self.channels

    def _dealt(self, c: int, below: int) -> int:
        """Bytes of channel ``c`` among the first ``below``."""
        return len(range(c, below, self.channels))

    def _port(self, limit: int) -> None:
        width = self.bytes if self.width is None else self.width
        self.through_port += min(width, limit - self.through_port)

    def step(self) -> bool:
        if self.store:  # the port reads, then the channels send what it has read
            self._port(self.bytes)
        for c in range(self.channels):
            have = self._dealt(c, self.through_port if self.store else self.bytes)
            self.sent[c] += min(self.per_cycle, have - self.sent[c])
        if not self.store:  # the port writes what the channels have delivered
            self._port(sum(self.sent))
        return self.through_port == self.bytes and sum(self.sent) == self.bytes


def _deal(items: int, lanes: int, each: int) -> list[int]:
    """``items`` dealt round-robin to ``lanes``: the work of each lane, ``each`` per item."""
    return [len(range(lane, items, lanes)) * each for lane in range(lanes)]


def run_reference(program: Program, machine: Machine) -> Timeline:
    """Step ``program`` on ``machine`` one cycle at a time. Raises ValueError if a task runs
    on an instance the machine does not have."""
    n = len(program.tasks)
    start: list[int | None] = [None] * n
    end: list[int | None] = [None] * n
    queues = program.queues()  # per (unit, instance), its tasks still to start
    for unit, instance in queues:
        machine.check(unit, instance)
    busy: dict[tuple[Unit, int], tuple[Task, _Job | _Stream] | None] = dict.fromkeys(queues)
    held = dict.fromkeys(program.buffers, 0)
    peak = dict.fromkeys(program.buffers, 0)

    def ready_at(task: Task) -> int | None:
        """The cycle its dependencies have all ended by, or None while one has not."""
        ends = [end[d] for d in task.deps]
        return None if None in ends else max(ends, default=0)

    freed_by: dict[int, list] = {}  # task -> the holdings its end frees
    for task in program.tasks:
        for hold in task.holds:
            freed_by.setdefault(hold.until, []).append(hold)
    ended: dict[int, list[int]] = {}  # cycle -> tasks that ended then
    cycle = 0
    remaining = len(end)
    while remaining:
        if cycle > MAX_CYCLES:
            raise RuntimeError("reference run does not end")
        # Space freed by tasks that ended by now comes back before anything starts.
        for task_id in ended.pop(cycle, ()):
            for hold in freed_by.get(task_id, ()):
                held[hold.buffer] -= hold.bytes
        # Issue: each free instance takes its next task once it is ready (and its latency
        # passed).
        for (unit, instance), queue in queues.items():
            if busy[unit, instance] is None and queue:
                task = queue[0]
                ready = ready_at(task)
                wait = machine.dram_latency_cycles if unit is Unit.DRAM else 0
                if ready is not None and ready + wait <= cycle:
                    queue.pop(0)
                    start[task.id] = cycle
                    for hold in task.holds:
                        held[hold.buffer] += hold.bytes
                    busy[unit, instance] = (task, _progress(task, machine))
        for name, bytes_held in held.items():
            peak[name] = max(peak[name], bytes_held)
            if bytes_held > program.buffers[name]:
                raise BufferOverflow(f"buffer {name} holds {bytes_held} bytes in cycle {cycle}, "
                                     f"more than its {program.buffers[name]}")
        # Work: one clock on every busy instance.
        for key, job in busy.items():
            if job is not None and job[1].step():
                end[job[0].id] = cycle + 1
                ended.setdefault(cycle + 1, []).append(job[0].id)
                busy[key] = None
                remaining -= 1
        cycle += 1
    return Timeline(tuple(start), tuple(end), peak)


def _progress(task: Task, machine: Machine) -> _Job | _Stream:
    work = task.work
    port = machine.port
    if isinstance(work, Transfer):
        width = port[work.buffer].bytes_per_cycle if work.buffer in port else None
        return _Stream(work.bytes, work.write, machine.queue_channels,
                       machine.dram_bytes_per_cycle, width)
    ports = [_Port(a.read, a.write, port[a.buffer]) for a in work.access if a.buffer in port]
    if isinstance(work, Compute):
        return _Job(_Lanes([work.cycles]), ports)
    if isinstance(work, MaskJob):
        return _Job(_Lanes(_deal(work.groups, machine.sore_lanes, work.m)), ports)
    if isinstance(work, VectorJob):
        return _Job(_Lanes(_deal(work.elements, machine.vector_lanes,
                                 work.cycles_per_element)), ports)
    raise TypeError(f"unknown work {work!r}")
