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
from satsim.schedule.tiling import capacities
from satsim.timing.accounting import OpTiming, stalls
from satsim.timing.machine import curves
from satsim.timing.units import Machine, latency, own_cycles, port_cycles
from satsim.trace.schema import Trace


@dataclass(frozen=True)
class MachineRun:
    """A timed iteration: per record, per unit, per buffer."""

    ops: dict[int, OpPlan]
    rows: list[OpTiming]
    busy: dict[Unit, int]
    cycles: int
    capacity: dict[str, int]  # per Program buffer (a role's share of a shared one), bytes
    peak_bytes: dict[str, int]
    tasks: int  # tasks of the schedule
    timed: int  # of which timed one by one (the rest: skipped runs of identical steps)


_UNIT_AT = {unit: i for i, unit in enumerate(Unit)}
_GAPS = len(Unit)
_BANK = _GAPS + 1
_TASKS = _GAPS + 2
# A tally: per unit its own busy cycles, idle cycles before its work, cycles its work
# waited on buffer ports, tasks.


class Clock:
    """Timing sink: a handle is the task's index. It lets the emitter skip the middle of
    runs of identical steps (``shift``), accounting for the steps it did not time: per
    record, a running tally of busy cycles per unit (the DMA's including its bank's port),
    idle cycles of its unit before its work tasks (on the STCE, SORE or vector unit), the
    cycles those tasks waited on their buffer ports, and tasks, timed or skipped."""

    skips = True

    def __init__(self, machine: Machine):
        self.machine = machine
        self.start: list[int] = []
        self.end: list[int] = []
        self.op: list[int] = []
        self.unit: list[Unit] = []
        self.free = dict.fromkeys(Unit, 0)
        self.before: list[int] = []  # each task's unit free time when it was issued
        self.holds: list[list] = []
        self.tally: dict[int, list[int]] = {}

    def task(self, work: Work, deps: list, op: int, phase, label: str) -> int:
        unit = work.unit
        end = self.end
        ready = max((end[d] for d in deps), default=0)
        free = self.free[unit]
        machine = self.machine
        start = max(ready + latency(work, machine), free)
        own = own_cycles(work, machine)
        busy = max(own, port_cycles(work, machine))
        tally = self.tally.get(op)
        if tally is None:
            tally = self.tally[op] = [0] * (_TASKS + 1)
        tally[_TASKS] += 1
        if unit is Unit.DRAM:
            tally[_UNIT_AT[unit]] += busy
        else:
            tally[_UNIT_AT[unit]] += own
            tally[_BANK] += busy - own
            if start > free:
                tally[_GAPS] += start - free
        self.start.append(start)
        end.append(start + busy)
        self.op.append(op)
        self.unit.append(unit)
        self.before.append(free)
        self.free[unit] = end[-1]
        return len(end) - 1

    def hold(self, hold: list) -> None:
        self.holds.append(hold)

    def drop(self, hold: list) -> None:
        """A holding whose release was skipped: its shifted copy stands for it."""
        hold[2] = -1

    def state(self, handles: list, op: int) -> tuple[tuple, tuple, tuple]:
        """The starts and ends of ``handles``, every unit's free time, ``op``'s tally."""
        start, end = self.start, self.end
        return ((*(start[h] for h in handles), *(end[h] for h in handles)),
                tuple(self.free.values()), tuple(self.tally[op]))

    def shift(self, handles: list, op: int, n: int, delta: int, units: list,
              period: tuple) -> dict:
        """Ghost copies of ``handles`` ``n * delta`` later; ``n`` more periods of ``op``
        (``period``: what one added to its tally); ``units`` free that much later."""
        moved, offset = {}, n * delta
        for h in dict.fromkeys(handles):
            self.start.append(self.start[h] + offset)
            self.end.append(self.end[h] + offset)
            self.op.append(self.op[h])
            self.unit.append(self.unit[h])
            self.before.append(self.before[h] + offset)
            moved[h] = len(self.end) - 1
        tally = self.tally[op]
        for i, x in enumerate(period):
            tally[i] += n * x
        for unit in units:
            self.free[unit] += offset
        return moved


def evaluate(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> MachineRun:
    """The plain schedule of ``trace`` on ``hw``, timed."""
    machine = Machine.from_hardware(hw)
    clock = Clock(machine)
    emitter = Emitter(hw, clock)
    ops = walk(trace, hw, policy, emitter)
    start, end, unit_of = clock.start, clock.end, clock.unit
    rows, busy, unit_at = [], dict.fromkeys(Unit, 0), {}
    for index, op in ops.items():
        tally = clock.tally.get(index, [0] * (_TASKS + 1))
        for unit in Unit:
            busy[unit] += tally[_UNIT_AT[unit]]
        work = [t for t in op.tasks if unit_of[t] is not Unit.DRAM]
        unit = unit_at[index] = unit_of[work[0]] if work else None
        free, first = (clock.before[work[0]], start[work[0]]) if work else (0, 0)
        split, ready = stalls(tally[_GAPS], free, first, op.inputs, end,
                              lambda h: unit_at.get(clock.op[h]))
        rows.append(OpTiming(
            record=index, unit=unit,
            start=min((start[t] for t in op.tasks), default=0),
            end=max((end[t] for t in op.tasks), default=0),
            busy=sum(tally[_UNIT_AT[u]] for u in Unit if u is not Unit.DRAM),
            stall_dram=split["dram"], stall_mask=split["mask"], stall_dep=split["dep"],
            stall_unit=max(0, free - ready), stall_buffer=tally[_BANK],
            dram_read_bytes=op.dram_read_bytes, dram_write_bytes=op.dram_write_bytes))
    buffers = capacities(emitter.roles)
    held = curves(buffers, ((b, n, start[holder], end[until])
                            for b, n, until, holder in clock.holds if until != -1))
    peak = {name: max((h for _, h in curve), default=0) for name, curve in held.items()}
    timed = sum(len(op.tasks) for op in ops.values())
    tasks = sum(tally[_TASKS] for tally in clock.tally.values())
    return MachineRun(ops, rows, busy, max(end, default=0), buffers, peak, tasks, timed)
