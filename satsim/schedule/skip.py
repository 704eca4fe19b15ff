"""Skipping repeating periods of steps: what makes the one-pass clock fast.

An op's steps (:mod:`satsim.schedule.steps`) repeat themselves in nested loops: identical
chunks, the K slices of an output tile, the tiles of a column, the instances of a batched
GEMM. Timing them is a max-plus recurrence of fixed structure, so once two consecutive
periods over identical steps moved every time the rest can depend on by the same ``delta``,
every further identical period will too: the clock (:class:`satsim.timing.clock.Clock`)
then shifts that state by ``n * delta`` and accounts for ``n`` more periods without timing
them. Two periods are left at the end of a run to be timed one by one.

:class:`Skipper` does this for one op whose steps come one after the other;
:class:`Together` for ops that run side by side (a GEMM, a vector stream and pre-generated
masks, interleaved on the DMA): a period of theirs is a stretch in which each op took the
same number of steps as in the stretch before.

What a snapshot holds is the state the rest can depend on: per role in use, its slots'
holdings (a pending load is the holder of one) and which are still to be released; each op's
output tile (unless the periods accumulate into one tile: then it is held throughout); every
unit's free time; the ops' running tallies (busy cycles, stalls, tasks) and
bytes. What a period did is the difference of two snapshots' tallies, not a list of its tasks,
so a period may itself contain skipped stretches of a shorter one, and a snapshot stays valid
after a skip (the times it holds are exact).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from satsim.machine.program import Unit
from satsim.schedule.tiling import slot_key


class Emitter(Protocol):
    """What skipping reads of the emitter (:class:`satsim.schedule.emitter.Emitter`)."""

    sink: Any  # a one-pass clock (:class:`satsim.timing.clock.Clock`)
    occupied: dict[str, deque[list]]


class _Op(Protocol):
    """What skipping reads of an op being emitted
    (:class:`satsim.schedule.emitter.RunningOp`)."""

    emitter: Emitter
    sink: Any
    index: int
    unit: Unit
    s: int
    steps: list
    state: dict
    held: dict
    loads: list
    repeats: Repeats
    roles: tuple[str, ...]


class Repeats:
    """Where an op's steps stop repeating themselves with a period. Equal steps are one
    object (see :mod:`satsim.schedule.steps`): steps compare by identity."""

    def __init__(self, steps: list) -> None:
        self.keys = np.fromiter(map(id, steps), dtype=np.uint64, count=len(steps))
        self.breaks: dict[int, list[int]] = {}  # per period: the steps j that differ from j - p

    def end(self, period: int, begin: int) -> int:
        """The first step ``j >= begin + period`` unlike step ``j - period`` (else the count):
        steps ``begin .. end - 1`` repeat with ``period``."""
        breaks = self.breaks.get(period)
        if breaks is None:
            keys = self.keys
            breaks = self.breaks[period] = [
                *(np.flatnonzero(keys[period:] != keys[:-period]) + period).tolist(), len(keys)]
        return breaks[bisect_left(breaks, begin + period)]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the steps to come can depend on (see the module's docstring)."""

    roles: tuple[str, ...]
    shape: tuple  # per role: holdings and which are pending; per op: an output tile or not
    handles: list  # the tasks whose times those are (slot holders and releasers, the tiles)
    times: tuple  # their starts and ends
    free: tuple  # per unit, its instances' free times
    tally: tuple  # the ops' running busy cycles, stalls, tasks (the sink's) ...
    bytes: tuple  # ... and bytes read and written
    mark: int  # where the sink's record of what it was handed stood (:meth:`Clock.mark`)


def snapshot(emitter: Emitter, roles: tuple[str, ...], ops: list[_Op]) -> Snapshot:
    handles, shape = [], []
    for role in roles:
        queue = emitter.occupied[role]
        shape.append((role, len(queue), tuple(h[2] is None for h in queue)))
        handles += [h[3] for h in queue] + [h[2] for h in queue if h[2] is not None]
    done = []  # bytes read and written, per op
    for op in ops:
        state = op.state
        outs = state["out"]
        shape.append(tuple(sorted(outs)) if len(outs) > 1 else tuple(outs))
        # An output tile the periods neither start nor store (the K slices accumulating
        # into it) is the same holding throughout, like an operand kept across them.
        for i in sorted(outs) if len(outs) > 1 else outs:
            if (slot_key("outputs", i) if i else "outputs") in roles:
                handles.append(outs[i][3])
        done += (state["read"], state["written"])
    times, free, tally = emitter.sink.state(handles, [op.index for op in ops])
    return Snapshot(roles, tuple(shape), handles, times, free, tally, tuple(done),
                    emitter.sink.mark())


def moves(two: Snapshot, one: Snapshot, now: Snapshot):
    """``(delta, units)`` if two consecutive periods moved every time by the same
    ``delta > 0`` (instances the periods did not use keep their free time; ``units``: the
    ``(unit, instance)`` pairs they did) and did the same work; else None."""
    if not now.shape == one.shape == two.shape:
        return None
    deltas = {y - x for x, y in zip(one.times, now.times, strict=True)}
    deltas.update(y - x for x, y in zip(two.times, one.times, strict=True))
    units = []
    for unit, frees_two, frees_one, frees_now in zip(Unit, two.free, one.free, now.free,
                                                     strict=True):
        if frees_two == frees_one == frees_now:
            continue
        for instance, (a, b, c) in enumerate(zip(frees_two, frees_one, frees_now, strict=True)):
            if not a == b == c:
                deltas.update((b - a, c - b))
                units.append((unit, instance))
    if len(deltas) != 1 or (delta := deltas.pop()) <= 0:
        return None
    work = [(y - x, z - y) for x, y, z in zip(two.tally + two.bytes, one.tally + one.bytes,
                                               now.tally + now.bytes, strict=True)]
    if any(a != b for a, b in work):
        return None
    return delta, units


def skip(emitter: Emitter, ops: list[_Op], one: Snapshot, now: Snapshot, jumps: list[int],
         n: int, delta: int, units: list[tuple[Unit, int]]) -> None:
    """Move ``ops`` ``n`` periods on (``jumps``: each op's steps in them) from ``now``,
    which is one period after ``one``: ghost copies of the snapshot's tasks ``n * delta``
    later, the periods' work added to the tallies, the units' free times, the slots' holdings
    and each op's pending loads and releases moved on."""
    sink = emitter.sink
    period = tuple(y - x for x, y in zip(one.tally, now.tally, strict=True))
    moved = sink.shift(now.handles, [op.index for op in ops], n, delta, units, period,
                       (one.mark, now.mark))
    queues = [emitter.occupied[role] for role in now.roles]
    # The holdings n periods on: copies at the shifted times, for the slot waits to come.
    # Occupancy repeats with the periods, so the peaks are those of the periods already
    # timed: copies are not counted, and a holding still pending here is dropped from the
    # count (its copy will be released, not it).
    for queue in queues:
        for hold in queue:
            moved[id(hold)] = [hold[0], hold[1], moved.get(hold[2]), moved[hold[3]]]
            if hold[2] is None:
                sink.drop(hold, moved[id(hold)], n * delta)
    for queue in queues:
        for i, hold in enumerate(queue):
            queue[i] = moved[id(hold)]
    for at, (op, jump) in enumerate(zip(ops, jumps, strict=True)):
        read, written = (now.bytes[2 * at + k] - one.bytes[2 * at + k] for k in (0, 1))
        op.state["read"] += n * read
        op.state["written"] += n * written
        _pending(op, jump, moved)
        op.s += jump


def _pending(op: _Op, jump: int, moved: dict) -> None:
    """``op``'s loads and releases still to come, ``jump`` steps on. A load of a role the
    periods do not load (an operand kept across them) is the same task throughout: it keeps
    its place (its last user is where it was), and it ended before the computes already
    timed, so it cannot delay any later one."""
    op.loads = [[max(first, op.s) + jump, end + jump, moved[h]] if h in moved
                else [first, end, h] for first, end, h in op.loads]
    later_held = {}
    for k in [k for k in op.held if k >= op.s]:
        for h, flag, instance in op.held.pop(k):
            key = k + jump if id(h) in moved else k
            later_held.setdefault(key, []).append((moved.get(id(h), h), flag, instance))
    op.held.update(later_held)
    outs = op.state["out"]
    for i, out in outs.items():
        outs[i] = moved.get(id(out), out)


class Skipper:
    """Skips whole periods of one op's steps once they repeat themselves exactly.

    ``periods`` comes with the steps (their loops); twice each is tried too, as the times
    may move alternately over a period (two slots taking turns: a max-plus recurrence of
    cyclicity two). After each step, the snapshots one and two periods earlier are compared
    with this one; among the periods that can skip, the one skipping the most steps wins.
    """

    MIN_STEPS = 16  # fewer: nothing to gain

    def __init__(self, op: _Op, periods) -> None:
        self.op, self.emitter = op, op.emitter
        # Of use only if five periods fit: two timed to compare, one skipped, two at the end.
        self.periods = sorted(p for p in {*periods, *(2 * p for p in periods)}
                              if p >= 1 and 5 * p <= len(op.steps))
        self.forget()

    def forget(self) -> None:
        """Drop what was seen: other tasks came between this op's steps."""
        self.snapshots: dict[int, dict[int, Snapshot]] = {p: {} for p in self.periods}
        self.taken: dict[int, deque[int]] = {p: deque() for p in self.periods}
        self.firsts: dict[int, object] = {}  # step -> its first task, if it was timed

    def _roles(self, first_task) -> tuple[str, ...]:
        """The roles whose slots the period used: those holding a task of it (tasks are
        handed out in increasing order; copies made by a skip inside it come after)."""
        roles = []
        for role, queue in self.emitter.occupied.items():
            for hold in queue:
                if hold[3] >= first_task:
                    roles.append(role)
                    break
        return tuple(roles)

    def after(self, first_task, before: int | None = None) -> None:
        """Skip what can be skipped after the op's last step (``first_task``: its first).
        With ``before``, no more periods than keep the op's unit free before that cycle."""
        op = self.op
        s = op.s - 1
        self.firsts[s] = first_task
        best, made = None, {}  # snapshots taken now, per roles in use
        for p in self.periods:
            begin = s - 2 * p + 1  # the two periods compared: steps begin .. s
            if begin < 0:
                continue
            n = (op.repeats.end(p, begin) - op.s - 2 * p) // p  # two left to time
            if n < 1:
                continue
            first = self.firsts.get(s - p + 1)  # None: that step was skipped, not timed
            if first is None:
                continue
            roles = self._roles(first)
            if roles not in made:
                made[roles] = snapshot(self.emitter, roles, [op])
            now = made[roles]
            snapshots, taken = self.snapshots[p], self.taken[p]
            snapshots[s] = now
            taken.append(s)
            while taken[0] < s - 2 * p:
                del snapshots[taken.popleft()]
            one, two = snapshots.get(s - p), snapshots.get(s - 2 * p)
            if one is None or two is None:
                continue
            found = moves(two, one, now)
            if found is not None and (best is None or n * p > best[0] * best[1]):
                best = (n, p, now, one, *found)
        if best is None:
            return
        n, p, now, one, delta, units = best
        if before is not None:
            n = min(n, (before - 1 - self.emitter.sink.free[op.unit][0]) // delta)
            if n < 1:
                return
        skip(self.emitter, [op], one, now, [n * p], n, delta, units)


class Together:
    """Skips whole periods of ops running side by side once they repeat themselves.

    After each step of the first of them (a period has at least one of each op's steps),
    the units' free times relative to its unit's are noted; once they recur within the
    window, a snapshot of all the ops is taken too, and its signature: every time in it
    relative to that unit's. A signature seen ``L`` such steps ago and ``2 L`` ago (the same
    state, moved on) marks two candidate periods; they are one if each op took the same
    number of steps ``q`` (at least one) in both, over steps that repeat with ``q``, and
    :func:`moves` agrees. Then every further period repeats them, the interleaving included
    (the order of two ops is decided by their units' free times, which move alike), as long
    as every op's steps repeat: skipped up to two periods before the first op whose steps
    stop repeating. (Ops whose turns drift, a long GEMM tile against 31 or 32 vector chunks,
    never recur: the free times alone tell.) The other units have no work while these ops
    run: their free times stay.
    """

    WINDOW = 64  # steps remembered: periods of up to 32 steps of the first op

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.ops: tuple = ()

    def _reset(self, ops: tuple) -> None:
        self.ops = ops
        self.roles = tuple(dict.fromkeys(role for op in ops for role in op.roles))
        self.timed = tuple(dict.fromkeys((ops[0].unit, *(op.unit for op in ops[1:]),
                                          Unit.DRAM)))[1:]  # relative to the first's
        self.units: dict[tuple, int] = {}  # relative free times -> their latest step's number
        self.seen: dict[tuple, int] = {}  # signature -> its latest snapshot's number
        self.points: deque = deque()  # (number, snapshot or None, each op's step, keys)
        self.count = 0

    def after(self, ops: list[_Op], stepped: _Op) -> bool:
        """Skip what can be skipped after ``stepped``, one of ``ops``, took a step; True if
        it did (the ops' own skippers must then start afresh: their steps moved on)."""
        if stepped is not ops[0]:
            return False
        if tuple(map(id, ops)) != tuple(map(id, self.ops)):
            self._reset(tuple(ops))
        number, steps = self.count, tuple(op.s for op in ops)
        self.count += 1
        free = self.emitter.sink.free
        ref = free[ops[0].unit][0]
        units = tuple(free[unit][0] - ref for unit in self.timed)
        now = signature = before = None
        if units in self.units:
            now = snapshot(self.emitter, self.roles, ops)
            signature = (units, now.shape, tuple(t - ref for t in now.times))
            before = self.seen.get(signature)
            self.seen[signature] = number
        self.units[units] = number
        self.points.append((number, now, steps, units, signature))
        if len(self.points) > self.WINDOW:
            old, _, _, gone, gone_signature = self.points.popleft()
            if self.units[gone] == old:
                del self.units[gone]
            if gone_signature is not None and self.seen[gone_signature] == old:
                del self.seen[gone_signature]
        first = self.points[0][0]
        if before is None or 2 * before - number < first:
            return False
        _, one, steps_one, *_ = self.points[before - first]
        _, two, steps_two, *_ = self.points[2 * before - number - first]
        jumps = [a - b for a, b in zip(steps, steps_one, strict=True)]
        if two is None or min(jumps) < 1 or jumps != [
                a - b for a, b in zip(steps_one, steps_two, strict=True)]:
            return False
        found = moves(two, one, now)
        if found is None:
            return False
        n = min((op.repeats.end(q, b) - op.s - 2 * q) // q
                for op, q, b in zip(ops, jumps, steps_two, strict=True))
        if n < 1:
            return False
        skip(self.emitter, list(ops), one, now, [n * q for q in jumps], n, *found)
        self._reset(self.ops)
        return True
