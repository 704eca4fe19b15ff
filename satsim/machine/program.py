"""A Program: one training iteration as tasks on the machine's units.

The scheduler (:mod:`satsim.schedule`) decides everything a Program says: which unit runs
each task, how much work it is, what it waits for, how much buffer space it holds, and the
order of the tasks on every unit. The engines only execute it, under one contract:

* every unit runs its tasks one at a time, **in Program order**;
* a task may start once every task it depends on has ended and its unit's previous task has
  ended; a DRAM transfer's access latency starts when it is ready and overlaps the previous
  transfer's data (requests are pipelined, data is not):
  ``start = max(ready + latency, end of the unit's previous task)``;
* ``end = start + busy cycles`` (:func:`satsim.machine.costs.busy_cycles`): the unit's own
  cycles, or longer when the buffer banks the task reads and writes (its :class:`Access`)
  cannot move its bytes in that time;
* a task's :class:`Hold` takes buffer space when the task starts and gives it back when the
  holding's ``until`` task ends; space freed at a cycle is free for a task starting then.

Because every unit's order is fixed, every start and end is a max-plus function of the busy
cycles: more bandwidth, more lanes or a shorter latency never delay any task.
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
    DRAM = "dram"  # the DRAM channels, fed by the DMA


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
    interleaved over all channels."""

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
    """One piece of work on one unit."""

    id: int
    work: Work
    deps: tuple[int, ...] = ()
    holds: tuple[Hold, ...] = ()
    op: int | None = None  # index of the trace record it belongs to
    phase: Phase | None = None
    label: str = ""  # shown on the timeline

    @property
    def unit(self) -> Unit:
        return self.work.unit


@dataclass(frozen=True)
class Program:
    """Tasks in a global order that every unit's order follows; buffer capacities in bytes.

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
        """The tasks ``unit`` runs, in its order."""
        return [t for t in self.tasks if t.unit is unit]


def _quantities(work: Work) -> tuple[int, ...]:
    if isinstance(work, Compute):
        return (work.cycles,)
    if isinstance(work, Transfer):
        return (work.bytes,)
    if isinstance(work, MaskJob):
        return (work.groups, work.m)
    return (work.elements, work.cycles_per_element)
