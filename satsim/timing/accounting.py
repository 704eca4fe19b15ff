"""What a machine run did, record by record: when, for how long, what it waited for.

Every idle cycle of a record's unit instance between that instance's previous task and one
of the record's work tasks on it is attributed to one cause:

* ``stall_dep``: the record's inputs, the results of the records it depends on in the
  tensor graph (read after write, write after read): the cycles before the last of them was
  written;
* ``stall_mask``: the same, when the SORE wrote the last of them (its compressed weights);
* ``stall_dram``: the memory system, every other idle cycle: its own loads (and their
  latency, and the DMA queue ahead of them), and buffer space freed by earlier stores.

So on ideal memory a record only waits for its inputs, and with a memory system an input
written long ago costs nothing but its load. ``stall_unit`` counts the cycles a record was
ready (its inputs written) while its unit was still busy with earlier records, and
``stall_buffer`` the cycles its unit, while holding its tasks, waited on the buffer banks'
ports (operands or results slower than the unit; not part of its busy cycles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from satsim.machine.costs import Machine, own_cycles
from satsim.machine.program import Program, Transfer, Unit
from satsim.timing.timeline import Timeline


class Plan(Protocol):
    """A Program and what its tasks stand for (:class:`satsim.schedule.build.Plan`)."""

    program: Program
    ops: dict  # record index -> its OpPlan: .tasks, .inputs, .dram_read/write_bytes


@dataclass(frozen=True)
class OpTiming:
    """One record's share of a run (``unit`` None: no unit of the hardware times it)."""

    record: int
    unit: Unit | None
    start: int
    end: int
    busy: int  # cycles its unit worked on it (transfers excluded)
    stall_dram: int
    stall_mask: int
    stall_dep: int
    stall_unit: int
    stall_buffer: int
    dram_read_bytes: int
    dram_write_bytes: int


def stalls(gaps: int, free: int, start: int, inputs, end, record_unit
           ) -> tuple[dict[str, int], int]:
    """A record's idle cycles by cause (see the module), and when its inputs were written.

    ``gaps``: its unit's idle cycles before its work tasks, in all; its first work task found
    the unit free at ``free`` and started at ``start`` (both 0 without work); ``inputs``: the
    handles it waits for in the graph, which ended at ``end[h]``, for a record on unit
    ``record_unit(h)``.
    """
    ready = max((end[h] for h in inputs), default=0)
    binding = max(inputs, key=end.__getitem__, default=None)
    by_sore = binding is not None and record_unit(binding) is Unit.SORE
    waited = min(max(ready - free, 0), max(start - free, 0))
    return {"dram": gaps - waited, "mask": waited if by_sore else 0,
            "dep": 0 if by_sore else waited}, ready


def op_timings(plan: Plan, timeline: Timeline, machine: Machine) -> list[OpTiming]:
    """Per record of the trace, in the order of ``plan.ops`` (the order they completed)."""
    tasks = plan.program.tasks
    start, end = timeline.start, timeline.end
    previous: dict[int, int] = {}  # task -> end of the task before it on its instance
    last: dict[tuple[Unit, int], int] = {}
    for task in tasks:
        previous[task.id] = last.get((task.unit, task.instance), 0)
        last[task.unit, task.instance] = end[task.id]
    rows, unit_of = [], {}
    for index, op in plan.ops.items():
        work = [tasks[t] for t in op.tasks if not isinstance(tasks[t].work, Transfer)]
        own = [own_cycles(t.work, machine) for t in work]
        unit = unit_of[index] = work[0].unit if work else None
        free, first = (previous[work[0].id], start[work[0].id]) if work else (0, 0)
        gaps = sum(max(0, start[t.id] - previous[t.id]) for t in work)
        split, ready = stalls(gaps, free, first, op.inputs, end,
                              lambda h: unit_of.get(tasks[h].op))
        rows.append(OpTiming(
            record=index, unit=unit,
            start=min((start[t] for t in op.tasks), default=0),
            end=max((end[t] for t in op.tasks), default=0),
            busy=sum(own),
            stall_dram=split["dram"], stall_mask=split["mask"], stall_dep=split["dep"],
            stall_unit=max(0, free - ready),
            stall_buffer=sum(end[t.id] - start[t.id] for t in work) - sum(own),
            dram_read_bytes=op.dram_read_bytes, dram_write_bytes=op.dram_write_bytes))
    return rows


def unit_busy(plan: Plan, timeline: Timeline, machine: Machine) -> dict[Unit, int]:
    """Cycles each unit worked, summed over its instances (DRAM: cycles moving data, its
    banks' ports included)."""
    busy = dict.fromkeys(Unit, 0)
    for task in plan.program.tasks:
        busy[task.unit] += (timeline.end[task.id] - timeline.start[task.id]
                            if task.unit is Unit.DRAM else own_cycles(task.work, machine))
    return busy
