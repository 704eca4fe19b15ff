"""What a machine run did, record by record: when, for how long, what it waited for.

Every idle cycle of a record's unit between the unit's previous task and the record's task
is attributed to what the task was waiting for, the dependency that ended last:

* ``stall_dram``: a transfer (a load of its operands, or a store that frees the slot it
  needs);
* ``stall_mask``: the SORE's compressed weights (another record's mask generation);
* ``stall_dep``: another record's result (any other unit);

and ``stall_unit`` counts the cycles a record was ready (its inputs written) while its unit
was still busy with earlier records.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.schedule.plain import Plan
from satsim.schedule.program import Transfer, Unit
from satsim.timing.machine import Timeline


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
    dram_read_bytes: int
    dram_write_bytes: int


def stall_cause(unit: Unit, op: int, waiting: int) -> str:
    """What record ``waiting`` waited for when its binding dependency ran on ``unit`` for
    record ``op``: ``dram``, ``mask`` or ``dep``."""
    if unit is Unit.DRAM:
        return "dram"
    return "mask" if op != waiting and unit is Unit.SORE else "dep"


def op_timings(plan: Plan, timeline: Timeline) -> list[OpTiming]:
    """Per record of the trace, in trace order."""
    tasks = plan.program.tasks
    start, end = timeline.start, timeline.end
    previous: dict[int, int] = {}  # task -> end of the task before it on its unit
    last: dict[Unit, int] = {}
    for task in tasks:
        previous[task.id] = last.get(task.unit, 0)
        last[task.unit] = end[task.id]
    rows = []
    for index, op in plan.ops.items():
        work = [tasks[t] for t in op.tasks if not isinstance(tasks[t].work, Transfer)]
        stalls = {"dram": 0, "mask": 0, "dep": 0}
        unit = work[0].unit if work else None
        for task in work:
            gap = start[task.id] - previous[task.id]
            if gap > 0:
                cause = tasks[max(task.deps, key=lambda d: end[d])]
                stalls[stall_cause(cause.unit, cause.op, index)] += gap
        outside = [end[d] for t in op.tasks for d in tasks[t].deps if tasks[d].op != index]
        ready = max(outside, default=0)
        waited = max(0, previous[work[0].id] - ready) if work else 0
        rows.append(OpTiming(
            record=index, unit=unit,
            start=min((start[t] for t in op.tasks), default=0),
            end=max((end[t] for t in op.tasks), default=0),
            busy=sum(end[t.id] - start[t.id] for t in work),
            stall_dram=stalls["dram"], stall_mask=stalls["mask"], stall_dep=stalls["dep"],
            stall_unit=waited, dram_read_bytes=op.dram_read_bytes,
            dram_write_bytes=op.dram_write_bytes))
    return rows


def unit_busy(plan: Plan, timeline: Timeline) -> dict[Unit, int]:
    """Cycles each unit worked (DRAM: cycles moving data)."""
    busy = dict.fromkeys(Unit, 0)
    for task in plan.program.tasks:
        busy[task.unit] += timeline.end[task.id] - timeline.start[task.id]
    return busy
