"""The Program builder: a trace's records, issued in a given order, as a Program of tasks.

Every choice comes from outside: the issue order, each op's tiles or chunks (a
:class:`~satsim.schedule.steps.Sizing`, the offline scheduler's tiler with a memory system)
and what a schedule file fixes. :func:`satsim.search.evaluate.plan` makes those choices
first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.machine.costs import Machine
from satsim.machine.program import Hold, Program, Task, Work
from satsim.schedule.choices import Schedule
from satsim.schedule.emitter import Emitter
from satsim.schedule.steps import Sizing
from satsim.schedule.tiling import Slot, capacities
from satsim.schedule.walk import OpPlan, walk
from satsim.timing.clock import Clock
from satsim.trace.schema import Trace
from satsim.types import Phase


@dataclass(frozen=True)
class Plan:
    """A Program and what its tasks stand for."""

    program: Program
    ops: dict[int, OpPlan]  # record index -> its plan (untimed records: no tasks)

    @property
    def untimed(self) -> tuple[int, ...]:
        return tuple(i for i, op in self.ops.items() if not op.tasks)


@dataclass(slots=True)
class _Spec:
    work: Work
    deps: set[int]
    holds: list[list] = field(default_factory=list)  # [buffer, bytes, until, holder]
    op: int = 0
    phase: Phase | None = None
    label: str = ""
    instance: int = 0


def build(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy, order: Sequence[int],
          tiler: Sizing | None = None, schedule: Schedule | None = None) -> Plan:
    """The Program of ``trace`` on ``hw`` under ``policy``, its records issued in ``order``,
    each op's tiles or chunks as ``tiler`` chooses them (needed with a memory system), with
    the stationarities ``schedule`` fixes."""
    sink = Recorder(Machine.from_hardware(hw))
    emitter = Emitter(hw, sink)
    ops = walk(trace, hw, policy, emitter, order, tiler, schedule)
    return Plan(sink.program(emitter.roles), ops)


class Recorder:
    """Sink that builds the Program: a handle is a task id. A one-pass clock times every
    task too (it skips nothing), for the choices that depend on time: which of the ops side
    by side emits next (:mod:`satsim.schedule.walk`)."""

    skips = False

    def __init__(self, machine: Machine) -> None:
        self.clock = Clock(machine)
        self.specs: list[_Spec] = []

    @property
    def free(self) -> dict:
        return self.clock.free

    @property
    def end(self) -> list[int]:
        return self.clock.end

    def task(self, work: Work, deps: list, op: int, phase: Phase, label: str,
             instance: int = 0) -> int:
        handle = self.clock.task(work, deps, op, phase, label, instance)  # checks the instance
        self.specs.append(_Spec(work, set(deps), op=op, phase=phase, label=label,
                                instance=instance))
        return handle

    def hold(self, hold: list) -> None:
        self.clock.hold(hold)
        self.specs[hold[3]].holds.append(hold)

    def program(self, roles: dict[str, Slot] | None) -> Program:
        tasks = tuple(Task(i, s.work, tuple(sorted(s.deps)),
                           tuple(Hold(b, n, until) for b, n, until, _ in s.holds),
                           op=s.op, phase=s.phase, label=s.label, instance=s.instance)
                      for i, s in enumerate(self.specs))
        return Program(tasks, capacities(roles))
