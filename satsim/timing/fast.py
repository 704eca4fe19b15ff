"""Time the plain schedule as it is emitted, without building the Program.

The emitter of :mod:`satsim.schedule.plain` hands each task to this clock in Program order,
which is topological and every unit's order, so one pass applies the machine's contract
(:mod:`satsim.schedule.program`) exactly: ``start = max(ready + latency, unit free)``. The
emitter skips repeating periods of identical steps once they repeat exactly (see
``plain._Skipper``), and the clock accounts for them. The result equals executing the built
Program with the SimPy engine (tested on every shipped trace), at a fraction of the cost: no
task objects, no events, and work in proportion to the periods that differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.schedule.plain import Emitter, OpPlan, walk
from satsim.schedule.program import Unit, Work
from satsim.timing.accounting import OpTiming, stall_cause
from satsim.timing.machine import curves
from satsim.timing.units import Machine, busy_cycles, latency
from satsim.trace.schema import Trace


@dataclass(frozen=True)
class MachineRun:
    """A timed iteration: per record, per unit, per buffer."""

    ops: dict[int, OpPlan]
    rows: list[OpTiming]
    busy: dict[Unit, int]
    cycles: int
    peak_bytes: dict[str, int]
    tasks: int  # tasks of the schedule
    timed: int  # of which timed one by one (the rest: skipped runs of identical steps)


class _Clock:
    """Timing sink: a handle is the task's index. It lets the emitter skip the middle of
    runs of identical steps (``shift``), accounting for the steps it did not time."""

    skips = True

    def __init__(self, machine: Machine):
        self.machine = machine
        self.start: list[int] = []
        self.end: list[int] = []
        self.op: list[int] = []
        self.unit: list[Unit] = []
        self.free = dict.fromkeys(Unit, 0)
        self.before: list[int] = []  # each task's unit free time when it was issued
        self.cause: list[str | None] = []  # what the gap before it waited for
        self.holds: list[list] = []
        self.outside: dict[int, int] = {}  # record -> latest end of another record it waits for
        self.extra_busy: dict[tuple[int, Unit], int] = {}  # skipped steps, per record and unit
        self.extra_stall: dict[tuple[int, str], int] = {}
        self.skipped = 0  # tasks accounted for without being timed one by one

    def task(self, work: Work, deps: list, op: int, phase, label: str) -> int:
        unit = work.unit
        end = self.end
        ready, binding, outside = 0, None, self.outside.get(op, 0)
        for d in deps:
            if end[d] >= ready:
                ready, binding = end[d], d
            if self.op[d] != op and end[d] > outside:
                outside = end[d]
        self.outside[op] = outside
        free = self.free[unit]
        start = max(ready + latency(work, self.machine), free)
        cause = None
        if start > free and binding is not None:
            cause = stall_cause(self.unit[binding], self.op[binding], op)
        self.start.append(start)
        end.append(start + busy_cycles(work, self.machine))
        self.op.append(op)
        self.unit.append(unit)
        self.before.append(free)
        self.cause.append(cause)
        self.free[unit] = end[-1]
        return len(end) - 1

    def hold(self, hold: list) -> None:
        self.holds.append(hold)

    def drop(self, hold: list) -> None:
        """A holding whose release was skipped: its shifted copy stands for it."""
        hold[2] = -1

    def times(self, handles: list, tasks: list) -> tuple[int, ...]:
        units = sorted({self.unit[t] for t in tasks})
        return (*(self.start[h] for h in handles), *(self.end[h] for h in handles),
                *(self.free[u] for u in units))

    def shift(self, handles: list, tasks: list, n: int, delta: int) -> dict:
        """Ghost copies of ``handles`` ``n * delta`` later; ``n`` more of ``tasks``'s step
        accounted for; the step's units free that much later."""
        moved, offset = {}, n * delta
        for h in dict.fromkeys(handles):
            self.start.append(self.start[h] + offset)
            self.end.append(self.end[h] + offset)
            self.op.append(self.op[h])
            self.unit.append(self.unit[h])
            self.before.append(self.before[h] + offset)
            self.cause.append(None)
            moved[h] = len(self.end) - 1
        for t in tasks:
            unit, op = self.unit[t], self.op[t]
            self.extra_busy[op, unit] = self.extra_busy.get((op, unit), 0) + n * (
                self.end[t] - self.start[t])
            if self.cause[t] is not None and unit is not Unit.DRAM:
                key = (op, self.cause[t])
                self.extra_stall[key] = self.extra_stall.get(key, 0) + n * (
                    self.start[t] - self.before[t])
        for unit in {self.unit[t] for t in tasks}:
            self.free[unit] += offset
        self.skipped += n * len(tasks)
        return moved


def evaluate(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> MachineRun:
    """The plain schedule of ``trace`` on ``hw``, timed."""
    machine = Machine.from_hardware(hw)
    clock = _Clock(machine)
    emitter = Emitter(hw, clock)
    ops = walk(trace, hw, policy, emitter)
    start, end, unit_of = clock.start, clock.end, clock.unit
    rows, busy = [], dict.fromkeys(Unit, 0)
    for index, op in ops.items():
        stalls = {"dram": 0, "mask": 0, "dep": 0}
        work = [t for t in op.tasks if unit_of[t] is not Unit.DRAM]
        for t in op.tasks:
            busy[unit_of[t]] += end[t] - start[t]
        for t in work:
            if clock.cause[t] is not None:
                stalls[clock.cause[t]] += start[t] - clock.before[t]
        for cause in stalls:
            stalls[cause] += clock.extra_stall.get((index, cause), 0)
        for unit in Unit:
            busy[unit] += clock.extra_busy.get((index, unit), 0)
        waited = max(0, clock.before[work[0]] - clock.outside.get(index, 0)) if work else 0
        rows.append(OpTiming(
            record=index, unit=unit_of[work[0]] if work else None,
            start=min((start[t] for t in op.tasks), default=0),
            end=max((end[t] for t in op.tasks), default=0),
            busy=sum(end[t] - start[t] for t in work) + sum(
                clock.extra_busy.get((index, u), 0) for u in Unit if u is not Unit.DRAM),
            stall_dram=stalls["dram"], stall_mask=stalls["mask"], stall_dep=stalls["dep"],
            stall_unit=waited, dram_read_bytes=op.dram_read_bytes,
            dram_write_bytes=op.dram_write_bytes))
    buffers = {} if emitter.roles is None else {
        s.buffer: s.bytes * s.slots for s in emitter.roles.values()}
    held = curves(buffers, ((b, n, start[holder], end[until])
                            for b, n, until, holder in clock.holds if until != -1))
    peak = {name: max((h for _, h in curve), default=0) for name, curve in held.items()}
    timed = sum(len(op.tasks) for op in ops.values())
    return MachineRun(ops, rows, busy, max(end, default=0), peak, timed + clock.skipped, timed)
