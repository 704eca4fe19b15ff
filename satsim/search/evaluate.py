"""The offline scheduler's evaluation: time each candidate schedule as it is emitted, keep
the fastest (:func:`evaluate`), and build the Program of the one chosen (:func:`plan`).

The emitter of :mod:`satsim.schedule.emitter` hands each task to the one-pass clock
(:mod:`satsim.timing.clock`) in Program order, which is topological and every unit's order,
so one pass applies the machine's contract (:mod:`satsim.machine.program`) exactly:
``start = max(ready + latency, unit free)``. The emitter skips repeating periods of
identical steps once they repeat exactly (see :mod:`satsim.schedule.skip`), and the clock
accounts for them. The result equals executing the built Program with the SimPy engine
(tested on every shipped trace), at a fraction of the cost: no task objects, no events, and
work in proportion to the periods that differ. With offline scheduling every candidate issue order
is timed this way and the fastest kept (:func:`evaluate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.machine.costs import Machine
from satsim.machine.program import Unit
from satsim.schedule.build import Plan, build
from satsim.schedule.choices import GemmChoice, Schedule, fingerprint, timing_json
from satsim.schedule.emitter import Emitter
from satsim.schedule.tiling import capacities
from satsim.schedule.walk import OpPlan, walk
from satsim.search.cache import cache, cached
from satsim.search.order import candidate_orders
from satsim.search.tiler import Tiler, tiler_for
from satsim.timing.accounting import OpTiming, stalls
from satsim.timing.clock import BANK, GAPS, TASKS, UNIT_AT, Clock
from satsim.timing.records import Recording, TaskRecords
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
    order: str = "trace order"  # the issue order the offline scheduler kept
    tried: dict[str, int] = field(default_factory=dict)  # every candidate order's cycles
    schedule: Schedule | None = None  # every choice made (evaluate's)
    records: TaskRecords | None = None  # every task's times, when asked for (timed's)


def evaluate(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
             schedule: Schedule | None = None, record: bool = False) -> MachineRun:
    """The schedule of ``trace`` on ``hw`` under ``policy``, timed: as ``schedule`` fixes
    it, else as the offline scheduler chooses. It times every issue order ``policy``
    allows (:func:`satsim.search.order.candidate_orders`) and keeps the fastest (the
    earlier on a tie: never slower than the trace's order), with each op's tiles or chunks
    the fastest alone. The choice (:attr:`MachineRun.schedule`) is remembered in this
    process for the same trace object, hardware and policy, and on disk for the same
    contents (:mod:`satsim.search.cache`): a schedule computed offline once, then
    reused. ``record``: keep every task's times (:attr:`MachineRun.records`)."""
    key = (id(trace), timing_json(hw), policy.model_dump_json())
    given = schedule is not None  # a user's (perhaps edited) schedule is not remembered
    inputs = None  # their fingerprint, for the disk cache: computed once, if needed
    if not given:
        known = _CHOSEN.get(key)
        if known is not None and known[0] is trace:
            schedule = known[1]
        else:
            inputs = fingerprint(trace, hw, policy)
            schedule = cached(trace, hw, policy, inputs)
    if schedule is not None:
        tiler = tiler_for(hw, policy, schedule)
        run = timed(trace, hw, policy, list(schedule.order), tiler, schedule, record)
        if not given:
            _remember(key, trace, schedule)
        return replace(run, order=schedule.order_name, tried=schedule.tried,
                       schedule=schedule)
    orders = candidate_orders(trace, policy)
    tiler = tiler_for(hw, policy)  # one tile choice for all orders
    runs = {name: timed(trace, hw, policy, order, tiler, record=record)
            for name, order in orders.items()}
    name = min(runs, key=lambda n: runs[n].cycles)  # min keeps the first of equals
    tried = {n: r.cycles for n, r in runs.items()}
    run = runs[name]
    choices = {}
    for index, op in run.ops.items():
        if op.mapping is not None:
            choices[index] = GemmChoice(op.mapping.stationarity,
                                        tiler.picked[index] if tiler is not None else ())
        elif tiler is not None and index in tiler.picked:
            choices[index] = tiler.picked[index]
    schedule = Schedule(inputs, name, tried, tuple(orders[name]),
                        dict(sorted(choices.items())), run.cycles)
    _remember(key, trace, schedule)
    cache(schedule)
    return replace(run, order=name, tried=tried, schedule=schedule)


def _remember(key: tuple, trace: Trace, schedule: Schedule) -> None:
    while len(_CHOSEN) >= _REMEMBERED:
        del _CHOSEN[next(iter(_CHOSEN))]
    _CHOSEN[key] = (trace, schedule)


_REMEMBERED = 64
_CHOSEN: dict[tuple, tuple[Trace, Schedule]] = {}  # see evaluate


def chosen_order(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> list[int]:
    """The issue order :func:`evaluate` keeps."""
    orders = candidate_orders(trace, policy)
    if len(orders) == 1:
        return next(iter(orders.values()))
    return list(evaluate(trace, hw, policy).schedule.order)


def plan(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
         order: Sequence[int] | None = None, schedule: Schedule | None = None) -> Plan:
    """The Program of ``trace`` on ``hw`` under ``policy``: as ``schedule`` fixes it, else
    in ``order``, else in the order the offline scheduler chooses (:func:`chosen_order`);
    each op's tiles or chunks the fastest alone."""
    if schedule is not None:
        order = schedule.order
    elif order is None:
        order = chosen_order(trace, hw, policy)
    return build(trace, hw, policy, order, tiler_for(hw, policy, schedule), schedule)


def timed(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy, order: list[int],
          tiler: Tiler | None = None, schedule: Schedule | None = None,
          record: bool = False) -> MachineRun:
    """The schedule of ``trace`` on ``hw`` with its records issued in ``order`` (and the
    choices ``schedule`` fixes), timed; ``record``: every task's times kept too, played
    back from what the clock skipped (:class:`~satsim.timing.records.Recording`)."""
    machine = Machine.from_hardware(hw)
    clock = Recording(machine) if record else Clock(machine)
    emitter = Emitter(hw, clock)
    if tiler is None:
        tiler = tiler_for(hw, policy, schedule)
    ops = walk(trace, hw, policy, emitter, order, tiler, schedule)
    start, end, unit_of = clock.start, clock.end, clock.unit
    rows, busy, unit_at = [], dict.fromkeys(Unit, 0), {}
    for index, op in ops.items():
        tally = clock.tally.get(index, [0] * (TASKS + 1))
        for unit in Unit:
            busy[unit] += tally[UNIT_AT[unit]]
        work = [t for t in op.tasks if unit_of[t] is not Unit.DRAM]
        unit = unit_at[index] = unit_of[work[0]] if work else None
        free, first = (clock.before[work[0]], start[work[0]]) if work else (0, 0)
        split, ready = stalls(tally[GAPS], free, first, op.inputs, end,
                              lambda h: unit_at.get(clock.op[h]))
        rows.append(OpTiming(
            record=index, unit=unit,
            start=min((start[t] for t in op.tasks), default=0),
            end=max((end[t] for t in op.tasks), default=0),
            busy=sum(tally[UNIT_AT[u]] for u in Unit if u is not Unit.DRAM),
            stall_dram=split["dram"], stall_mask=split["mask"], stall_dep=split["dep"],
            stall_unit=max(0, free - ready), stall_buffer=tally[BANK],
            dram_read_bytes=op.dram_read_bytes, dram_write_bytes=op.dram_write_bytes))
    buffers = capacities(emitter.roles)
    peak = _peaks(buffers, clock.holds, start, end)
    timed = sum(len(op.tasks) for op in ops.values())
    tasks = sum(tally[TASKS] for tally in clock.tally.values())
    return MachineRun(ops, rows, busy, max(end, default=0), buffers, peak, tasks, timed,
                      records=clock.records(buffers) if record else None)


def _peaks(buffers: dict[str, int], holds: list, start: list, end: list) -> dict[str, int]:
    """Most bytes each buffer holds at once (:func:`satsim.timing.timeline.curves`' highest
    point): holdings taken at their holder's start, freed at their releaser's end (a
    skipped one, -1, stands in its shifted copy). Within a cycle frees come first, so the
    running sum's maximum is a cycle's end."""
    found = dict.fromkeys(buffers, 0)
    by_buffer: dict[str, list] = {}
    for buffer, size, until, holder in holds:
        if until != -1:
            by_buffer.setdefault(buffer, []).append((size, start[holder], end[until]))
    for buffer, items in by_buffer.items():
        size, taken, freed = np.array(items, dtype=np.int64).T
        cycles = np.concatenate([freed, taken])
        deltas = np.concatenate([-size, size])
        order = np.lexsort((deltas > 0, cycles))  # by cycle, frees first
        found[buffer] = max(0, int(np.cumsum(deltas[order]).max()))
    return found
