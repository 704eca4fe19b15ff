"""The SimPy engine: executes a :class:`~satsim.schedule.program.Program` and nothing else.

One process per unit walks that unit's tasks in Program order; a task waits for the events
of the tasks it depends on, then holds its unit for its busy cycles (closed forms,
:mod:`satsim.timing.units`). A handful of events per task: the cost follows tasks, never
cycles or bytes. Buffer occupancy follows from the starts and ends; a Program whose holdings
exceed a buffer is a scheduler bug and raises.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import simpy

from satsim.schedule.program import Program, Task, Unit
from satsim.timing.units import Machine, busy_cycles, latency


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (engine cost, for tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


class BufferOverflow(RuntimeError):
    """A Program held more bytes of a buffer than it has."""


@dataclass(frozen=True)
class Timeline:
    """When every task ran (``start[i]``, ``end[i]`` for task ``i``), and buffer peaks."""

    start: tuple[int, ...]
    end: tuple[int, ...]
    peak_bytes: dict[str, int]  # per buffer: most bytes held at once
    events: int = 0  # SimPy events processed (engine cost)

    @property
    def cycles(self) -> int:
        return max(self.end, default=0)


def occupancy(program: Program, start, end) -> dict[str, list[tuple[int, int]]]:
    """Per buffer, ``(cycle, bytes held from then on)`` at every change, in time order.

    At one cycle, space freed (a holding's ``until`` task ended) comes back before space is
    taken (a holder started).
    """
    return curves(program.buffers, ((hold.buffer, hold.bytes, start[task.id], end[hold.until])
                                    for task in program.tasks for hold in task.holds))


def curves(buffers, holdings) -> dict[str, list[tuple[int, int]]]:
    """:func:`occupancy` from ``(buffer, bytes, taken at, freed at)`` holdings."""
    changes: dict[str, list[tuple[int, int, int]]] = {name: [] for name in buffers}
    for buffer, size, taken, freed in holdings:
        changes[buffer].append((taken, 1, size))
        changes[buffer].append((freed, 0, -size))
    steps = {}
    for name, events in changes.items():
        held, curve = 0, []
        for cycle, _, delta in sorted(events):
            held += delta
            if curve and curve[-1][0] == cycle:
                curve[-1] = (cycle, held)
            else:
                curve.append((cycle, held))
        steps[name] = curve
    return steps


def peaks(program: Program, start, end) -> dict[str, int]:
    """Most bytes each buffer holds at once; raises :class:`BufferOverflow` at the first
    cycle a buffer holds more than its capacity."""
    curves = occupancy(program, start, end)
    over = [(cycle, list(curves).index(name), name, held)
            for name, curve in curves.items() for cycle, held in curve
            if held > program.buffers[name]]
    if over:
        cycle, _, name, held = min(over)
        raise BufferOverflow(f"buffer {name} holds {held} bytes in cycle {cycle}, more than "
                             f"its {program.buffers[name]}")
    # Frees sort first within a cycle: each point is read after the cycle's takes.
    return {name: max((held for _, held in curve), default=0) for name, curve in curves.items()}


def execute(program: Program, machine: Machine) -> Timeline:
    """Run ``program`` on ``machine``; every task's start and end cycle."""
    env = CountingEnvironment()
    n = len(program.tasks)
    start, end = [0] * n, [0] * n
    done = [env.event() for _ in range(n)]

    def unit(tasks: list[Task]) -> Generator:
        previous_end = 0
        for task in tasks:
            waiting = [done[d] for d in task.deps if not done[d].processed]
            if waiting:
                yield env.all_of(waiting)
            ready = max((end[d] for d in task.deps), default=0)
            begin = max(ready + latency(task.work, machine), previous_end)
            if begin > env.now:
                yield env.timeout(begin - env.now)
            start[task.id] = begin
            yield env.timeout(busy_cycles(task.work, machine))
            end[task.id] = previous_end = int(env.now)
            done[task.id].succeed()

    for kind in Unit:
        tasks = program.on(kind)
        if tasks:
            env.process(unit(tasks))
    env.run()
    return Timeline(tuple(start), tuple(end), peaks(program, start, end), env.processed)
