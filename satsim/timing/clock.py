"""The one-pass clock: times tasks as the schedule emits them, in Program order.

Program order is topological and every instance's order, so one pass applies the machine's
contract (:mod:`satsim.machine.program`) exactly: ``start = max(ready + latency, instance
free)``, with a free time per instance of every unit. The emitter
(:mod:`satsim.schedule.emitter`) may skip repeating periods of identical steps; the clock
accounts for them (:meth:`Clock.shift`).
"""

from __future__ import annotations

from itertools import chain

from satsim.machine.costs import Machine, latency, own_cycles, port_cycles
from satsim.machine.program import Unit, Work

UNIT_AT = {unit: i for i, unit in enumerate(Unit)}
GAPS = len(Unit)
BANK = GAPS + 1
TASKS = GAPS + 2
# A tally: per unit its own busy cycles (summed over its instances), idle cycles of their
# instances before its work, cycles its work waited on buffer ports, tasks.


class Clock:
    """Timing sink: a handle is the task's index. It lets the emitter skip the middle of
    runs of identical steps (``shift``), accounting for the steps it did not time: per
    record, a running tally of busy cycles per unit (the DMA's including its bank's port),
    idle cycles of their instances before its work tasks (on the STCE, SORE or vector unit),
    the cycles those tasks waited on their buffer ports, and tasks, timed or skipped.

    ``free[unit][instance]`` is when that instance is free; a task on an instance the machine
    does not have raises ValueError (:meth:`Machine.check`)."""

    skips = True

    def __init__(self, machine: Machine):
        self.machine = machine
        self.start: list[int] = []
        self.end: list[int] = []
        self.op: list[int] = []
        self.unit: list[Unit] = []
        self.free = {unit: [0] * n for unit, n in machine.count.items()}
        self.before: list[int] = []  # each task's instance's free time when it was issued
        self.holds: list[list] = []
        self.tally: dict[int, list[int]] = {}
        # Per work (by id): latency, own and busy cycles, its unit's place in a tally, it.
        self.costs: dict[int, tuple[int, int, int, int, Work]] = {}

    def task(self, work: Work, deps: list, op: int, phase, label: str,
             instance: int = 0) -> int:
        # The hottest loop of a simulation: plain loops and one lookup per work.
        unit = work.unit
        end = self.end
        ready = 0
        for d in deps:
            if end[d] > ready:
                ready = end[d]
        frees = self.free[unit]
        if instance and not 0 < instance < len(frees):  # instance 0 always exists
            self.machine.check(unit, instance)
        free = frees[instance]
        # Steps are made once and reused, their work too: look its cost up by identity (the
        # entry keeps the work alive, so its id is not reused), not by value or by working
        # it out.
        cost = self.costs.get(id(work))
        if cost is None:
            machine = self.machine
            own = own_cycles(work, machine)
            cost = self.costs[id(work)] = (latency(work, machine), own,
                                           max(own, port_cycles(work, machine)),
                                           UNIT_AT[unit], work)
        wait, own, busy, at, _ = cost
        start = ready + wait
        if start < free:
            start = free
        tally = self.tally.get(op)
        if tally is None:
            tally = self.tally[op] = [0] * (TASKS + 1)
        tally[TASKS] += 1
        if unit is Unit.DRAM:
            tally[at] += busy
        else:
            tally[at] += own
            tally[BANK] += busy - own
            if start > free:
                tally[GAPS] += start - free
        self.start.append(start)
        end.append(start + busy)
        self.op.append(op)
        self.unit.append(unit)
        self.before.append(free)
        frees[instance] = end[-1]
        return len(end) - 1

    def hold(self, hold: list) -> None:
        self.holds.append(hold)

    def drop(self, hold: list, copy: list, offset: int) -> None:
        """A holding whose release was skipped: its copy ``offset`` cycles later stands for
        it."""
        hold[2] = -1

    def mark(self) -> int:
        """Where the record of what the clock was handed stands (for a sink that keeps one,
        :class:`satsim.timing.records.Recording`; this clock keeps none)."""
        return 0

    def state(self, handles: list, ops: list[int]) -> tuple[tuple, tuple, tuple]:
        """The starts and ends of ``handles``, per unit its instances' free times, ``ops``'
        tallies."""
        start, end = self.start, self.end
        return ((*map(start.__getitem__, handles), *map(end.__getitem__, handles)),
                tuple(map(tuple, self.free.values())),
                tuple(chain.from_iterable(map(self.tally.__getitem__, ops))))

    def shift(self, handles: list, ops: list[int], n: int, delta: int, units: list,
              period: tuple, marks: tuple[int, int]) -> dict:
        """Ghost copies of ``handles`` ``n * delta`` later; ``n`` more periods of ``ops``
        (``period``: what one added to their tallies, one after the other); ``units``
        (``(unit, instance)`` pairs) free that much later. ``marks``: where the period
        repeated began and ended (:meth:`mark`)."""
        moved, offset = {}, n * delta
        for h in dict.fromkeys(handles):
            self.start.append(self.start[h] + offset)
            self.end.append(self.end[h] + offset)
            self.op.append(self.op[h])
            self.unit.append(self.unit[h])
            self.before.append(self.before[h] + offset)
            moved[h] = len(self.end) - 1
        for at, op in enumerate(ops):
            tally = self.tally[op]
            for i, x in enumerate(period[at * len(tally):(at + 1) * len(tally)]):
                tally[i] += n * x
        for unit, instance in units:
            self.free[unit][instance] += offset
        return moved
