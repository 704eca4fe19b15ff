"""A Program: one training iteration as tasks on the machine's units.

The scheduler (:mod:`satsim.schedule`) decides everything a Program says: which unit, and
which instance of it, runs each task, how much work it is, what it waits for, how much buffer
space it holds, and the order of the tasks on every instance. The engines only execute it,
under one contract:

* a machine has one or more identical **instances** of each unit
  (:class:`satsim.machine.costs.Machine`); a task runs on one of them (:attr:`Task.instance`,
  0 unless the scheduler spreads a unit's work). Every instance runs its tasks one at a time,
  **in Program order**; instances run in parallel, sharing the buffers' space (a task's bank
  traffic uses the ports of the bank it accesses, as tasks on different units do).
  The DRAM's instances are its DMA queues, each with its own share of the channels
  (:mod:`satsim.machine.costs`): a DMA shared by the machine is one queue, private DMAs are
  one queue each;
* a task may start once every task it depends on has ended and its instance's previous task
  has ended; a DRAM transfer's access latency starts when it is ready and overlaps the
  previous transfer's data on its queue (requests are pipelined, data is not):
  ``start = max(ready + latency, end of the instance's previous task)``;
* ``end = start + busy cycles`` (:func:`satsim.machine.costs.busy_cycles`): the unit's own
  cycles, or longer when the buffer banks the task reads and writes (its :class:`Access`)
  cannot move its bytes in that time;
* a task's :class:`Hold` takes buffer space when the task starts and gives it back when the
  holding's ``until`` task ends; space freed at a cycle is free for a task starting then.

Buffers need nothing per instance: a buffer private to an instance is one more named buffer
of the Program, which only that instance's tasks access and hold; a shared one is a single
name every instance's tasks use.

A task on an instance the machine does not have is an error: the timing models check it
with :meth:`satsim.machine.costs.Machine.check` (the Program alone does not know the
machine).

Because every instance's order is fixed, every start and end is a max-plus function of the
busy cycles: more bandwidth, more lanes or a shorter latency never delay any task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from satsim.types import Phase


class Unit(StrEnum):
    """The machine's units."""

    STCE = "stce"  # the PE array
    SORE = "sore"  # the N:M mask / sparse-weight generator
    VECTOR = "vector"  # the weight-update / vector engine (WUVE)
    DRAM = "dram"  # the DRAM channels, fed by the DMA (an instance: a DMA queue)


@dataclass(frozen=True, slots=True)
class Access:
    """Bytes a task reads from and writes to one bank of ``buffer`` through its ports."""

    buffer: str
    read: int = 0
    write: int = 0


@dataclass(frozen=True, slots=True)
class Compute:
    """Fold runs on the STCE; ``cycles`` from the array's closed forms."""

    cycles: int
    access: tuple[Access, ...] = ()  # operands read, results (and partial sums) written

    unit = Unit.STCE


@dataclass(frozen=True, slots=True)
class Transfer:
    """``bytes`` between DRAM and a bank of ``buffer`` (None: no bank limits it),
    interleaved over its DMA queue's channels."""

    bytes: int
    write: bool  # buffer -> DRAM
    buffer: str | None = None

    unit = Unit.DRAM

    @property
    def access(self) -> tuple[Access, ...]:
        if self.buffer is None:
            return ()
        return (Access(self.buffer, read=self.bytes) if self.write
                else Access(self.buffer, write=self.bytes),)


@dataclass(frozen=True, slots=True)
class MaskJob:
    """Top-n selection over ``groups`` groups of ``m`` weights on the SORE's lanes."""

    groups: int
    m: int
    access: tuple[Access, ...] = ()

    unit = Unit.SORE


@dataclass(frozen=True, slots=True)
class VectorJob:
    """``elements`` element operations of ``cycles_per_element`` each on the vector lanes."""

    elements: int
    cycles_per_element: int
    access: tuple[Access, ...] = ()

    unit = Unit.VECTOR


Work = Compute | Transfer | MaskJob | VectorJob


@dataclass(frozen=True, slots=True)
class Hold:
    """``bytes`` of ``buffer`` taken at the holder's start, freed when task ``until`` ends."""

    buffer: str
    bytes: int
    until: int


@dataclass(frozen=True, slots=True)
class Task:
    """One piece of work on one instance of one unit. The work object may be shared by
    tasks on several instances: the instance is the task's, never the work's."""

    id: int
    work: Work
    deps: tuple[int, ...] = ()
    holds: tuple[Hold, ...] = ()
    op: int | None = None  # index of the trace record it belongs to
    phase: Phase | None = None
    label: str = ""  # shown on the timeline
    instance: int = 0  # which of its unit's instances runs it

    @property
    def unit(self) -> Unit:
        return self.work.unit


@dataclass(frozen=True)
class Program:
    """Tasks in a global order that every instance's order follows; buffer capacities in
    bytes.

    The order is topological: a task depends only on earlier tasks, and a holding is freed by
    the holder itself or a later task.
    """

    tasks: tuple[Task, ...]
    buffers: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for position, task in enumerate(self.tasks):
            if task.id != position:
                raise ValueError(f"task {task.id} sits at position {position}")
            if any(not 0 <= d < task.id for d in task.deps):
                raise ValueError(f"task {task.id} depends on a task that is not earlier")
            for access in task.work.access:
                if access.buffer not in self.buffers:
                    raise ValueError(f"task {task.id} accesses unknown buffer "
                                     f"{access.buffer!r}")
                if min(access.read, access.write) < 0:
                    raise ValueError(f"task {task.id} moves negative bytes: {access}")
            for hold in task.holds:
                if hold.buffer not in self.buffers:
                    raise ValueError(f"task {task.id} holds unknown buffer {hold.buffer!r}")
                if not task.id <= hold.until < len(self.tasks):
                    raise ValueError(f"task {task.id}'s {hold.buffer} space is freed by task "
                                     f"{hold.until}, not a later task")
            if min(_quantities(task.work)) < 1:
                raise ValueError(f"task {task.id} has no work: {task.work}")

    def on(self, unit: Unit) -> list[Task]:
        """The tasks ``unit`` runs, on all its instances, in Program order."""
        return [t for t in self.tasks if t.unit is unit]

    def queues(self) -> dict[tuple[Unit, int], list[Task]]:
        """Per ``(unit, instance)`` with work, the tasks that instance runs, in its order."""
        queues: dict[tuple[Unit, int], list[Task]] = {}
        for task in self.tasks:
            queues.setdefault((task.unit, task.instance), []).append(task)
        return queues


def _quantities(work: Work) -> tuple[int, ...]:
    if isinstance(work, Compute):
        return (work.cycles,)
    if isinstance(work, Transfer):
        return (work.bytes,)
    if isinstance(work, MaskJob):
        return (work.groups, work.m)
    return (work.elements, work.cycles_per_element)
