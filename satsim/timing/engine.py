"""The SimPy engine: executes a :class:`~satsim.machine.program.Program` and nothing else.

One process per instance of a unit walks that instance's tasks in Program order; a task
waits for the events of the tasks it depends on, then holds its instance for its busy cycles
(closed forms, :mod:`satsim.machine.costs`). A handful of events per task: the cost follows
tasks, never cycles or bytes. Buffer occupancy follows from the starts and ends; a Program
whose holdings exceed a buffer is a scheduler bug and raises.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from satsim.machine.costs import Machine, busy_cycles, latency
from satsim.machine.program import Program, Task
from satsim.timing.timeline import Timeline, peaks


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (engine cost, for tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


def execute(program: Program, machine: Machine) -> Timeline:
    """Run ``program`` on ``machine``; every task's start and end cycle. Raises ValueError if
    a task runs on an instance the machine does not have."""
    queues = program.queues()
    for unit, instance in queues:
        machine.check(unit, instance)
    env = CountingEnvironment()
    n = len(program.tasks)
    start, end = [0] * n, [0] * n
    done = [env.event() for _ in range(n)]

    def instance(tasks: list[Task]) -> Generator:
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

    for tasks in queues.values():
        env.process(instance(tasks))
    env.run()
    return Timeline(tuple(start), tuple(end), peaks(program, start, end), env.processed)
