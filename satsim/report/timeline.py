"""A simulated iteration as a Chrome trace-event file (opens in Perfetto and chrome://tracing).

One process, the machine; one track per unit instance (STCE, SORE, vector unit) and per DRAM
channel (DMA queue ``q`` moves its transfers over channels ``q C .. q C + C - 1``);
one complete event per task with its layer, phase, trace record and bytes; counters for the
DRAM bandwidth (each DMA queue's, with several) and every buffer's occupancy. Times are
microseconds at the hardware's clock; every event also carries its exact start and end cycle
in ``args``.

:func:`chrome_trace` makes it from a Program and an engine's :class:`Timeline` (the SimPy
engine's: the twin of what ``satsim run --timeline`` writes from the one-pass clock's
records, :mod:`satsim.report.trace_events`, tested equal).
"""

from __future__ import annotations

from satsim.machine.costs import Machine, busy_cycles
from satsim.machine.program import Transfer, Unit
from satsim.schedule.build import Plan
from satsim.timing.timeline import Timeline, occupancy

PID = 1
TRACKS = {Unit.STCE: (1, "STCE (PE array)"), Unit.SORE: (2, "SORE (mask generator)"),
           Unit.VECTOR: (3, "vector / weight-update unit")}
CHANNEL_TID = 10  # DRAM channel c is track 10 + c
INSTANCE_TID = 1000  # instance i of a unit is track 1000 i + the unit's


def chrome_trace(plan: Plan, timeline: Timeline, machine: Machine, clock_mhz: float,
                 name: str) -> dict:
    """The trace-event document of one run (``json.dump`` it)."""
    us = 1.0 / clock_mhz  # microseconds per cycle
    program = plan.program
    events: list[dict] = [{"ph": "M", "pid": PID, "name": "process_name",
                           "args": {"name": f"satsim: {name}"}}]
    used = {(task.unit, task.instance) for task in program.tasks}
    for unit, (tid, label) in TRACKS.items():
        several = machine.count[unit] > 1
        for instance in range(machine.count[unit]):
            if (unit, instance) in used:
                events.append({"ph": "M", "pid": PID, "tid": tid + INSTANCE_TID * instance,
                               "name": "thread_name",
                               "args": {"name": f"{label} {instance}" if several else label}})
    per_queue, queues = machine.queue_channels, machine.count[Unit.DRAM]
    if any(unit is Unit.DRAM for unit, _ in used):
        for c in range(machine.dram_channels):
            queue = f" (DMA queue {c // per_queue})" if queues > 1 else ""
            events.append({"ph": "M", "pid": PID, "tid": CHANNEL_TID + c,
                           "name": "thread_name", "args": {"name": f"DRAM channel {c}{queue}"}})
    counters: list[tuple[int, int, dict]] = []  # (cycle, 0 = end / 1 = start, event)
    for task in program.tasks:
        start, end = timeline.start[task.id], timeline.end[task.id]
        args = {"layer": task.label, "phase": str(task.phase) if task.phase else None,
                "record": task.op, "task": task.id, "start_cycle": start, "end_cycle": end}
        base = {"ph": "X", "pid": PID, "ts": start * us, "dur": (end - start) * us,
                "cat": str(task.phase) if task.phase else "other"}
        work = task.work
        if isinstance(work, Transfer):
            kind = "store" if work.write else "load"
            first = task.instance * per_queue
            for c in range(per_queue):
                share = len(range(c, work.bytes, per_queue))
                if share:
                    events.append({**base, "tid": CHANNEL_TID + first + c,
                                   "name": f"{kind} {task.label}",
                                   "args": {**args, "bytes": share, "direction": kind}})
            rate = work.bytes / (busy_cycles(work, machine) * us * 1e3)  # bytes/us -> GB/s
            counter = (f"DMA queue {task.instance} bandwidth (GB/s)" if queues > 1
                       else "DRAM bandwidth (GB/s)")  # a queue's transfers do not overlap
            counters.append((start, 1, {"ph": "C", "pid": PID, "name": counter,
                                        "ts": start * us, "args": {"GB/s": rate}}))
            counters.append((end, 0, {"ph": "C", "pid": PID, "name": counter,
                                      "ts": end * us, "args": {"GB/s": 0.0}}))
        else:
            events.append({**base, "tid": TRACKS[task.unit][0] + INSTANCE_TID * task.instance,
                           "name": f"{task.phase or ''} {task.label}".strip(), "args": args})
    for buffer, curve in occupancy(program, timeline.start, timeline.end).items():
        for cycle, held in curve:
            counters.append((cycle, 0, {"ph": "C", "pid": PID,
                                        "name": f"buffer {buffer} (KiB)", "ts": cycle * us,
                                        "args": {"KiB": held / 1024}}))
    counters.sort(key=lambda c: (c[0], c[1]))
    events += [event for _, _, event in counters]
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"clock_mhz": clock_mhz, "cycles": timeline.cycles}}
