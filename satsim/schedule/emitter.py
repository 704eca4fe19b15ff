"""The emitter: walks each op's steps in Program order and hands every task to a sink.

Loads run one step ahead when their buffers are double-buffered; a load waits for a free slot
(the slot's previous data released by the last step that used it); a GEMM's result holds an
output slot until it is stored. The sink is a one-pass clock (:mod:`satsim.timing.clock`),
which times the tasks and lets the emitter skip repeating periods
(:mod:`satsim.schedule.skip`), or a :class:`satsim.schedule.build.Recorder`, which builds
the Program.
"""

from __future__ import annotations

from collections import deque
from functools import cached_property

from satsim.config import HardwareConfig
from satsim.schedule.skip import Repeats, Skipper
from satsim.schedule.steps import Step, distinct, phase_of
from satsim.schedule.tiling import slot_key, slots


class Emitter:
    """Walks each op's steps in Program order and hands every task to a sink, with slot
    reuse as dependencies: a :class:`~satsim.schedule.build.Recorder` builds the Program, a
    one-pass clock (:mod:`satsim.search.evaluate`) times it on the fly. Handles are the
    sink's."""

    def __init__(self, hw: HardwareConfig, sink):
        self.sink = sink
        self.roles = None if hw.memory == "ideal" else slots(hw)
        # Per role (and instance, in a buffer private to the instances: slot_key): the
        # holdings occupying its slots, oldest first.
        self.occupied: dict[str, deque[list]] = {
            slot_key(role, i): deque() for role, slot in (self.roles or {}).items()
            for i in range(len(slot.buffers) or 1)}
        self.lookahead = int(bool(self.roles) and all(
            s.slots > 1 for s in self.roles.values()))
        # Private DMA queues: an instance's private buffers' transfers go on its own queue.
        self.queues = hw.dma_queues > 1

    def _wait_slot(self, role: str, instance: int = 0) -> list:
        """Reserve a slot of ``role`` (``instance``'s, if private): the handle whose end
        frees the oldest one, if taken."""
        queue = self.occupied[slot_key(role, instance) if instance else role]
        if len(queue) < self.roles[role].slots:
            return []
        oldest = queue.popleft()
        assert oldest[2] is not None, "a slot reused before its last user was emitted"
        return [oldest[2]]

    def _hold(self, role: str, holder, footprint: int, instance: int = 0) -> list:
        """``[buffer, bytes, released by, holder]``, freed when its third item is set."""
        if instance:
            hold = [self.roles[role].at(instance), footprint, None, holder]
            self.occupied[slot_key(role, instance)].append(hold)
        else:  # the hot path: one instance
            hold = [self.roles[role].buffer, footprint, None, holder]
            self.occupied[role].append(hold)
        self.sink.hold(hold)
        return hold

    def emit(self, index: int, record, steps: list[Step], waits,
             periods=()) -> tuple[list, int, int]:
        """The op's tasks (handles, in order), bytes read and written. ``periods``: where
        the steps may repeat themselves, for a sink that skips (see
        :class:`~satsim.schedule.skip.Skipper`)."""
        op = self.start(index, record, steps, waits, periods)
        while not op.done:
            op.advance()
        return op.made, op.state["read"], op.state["written"]

    def start(self, index: int, record, steps: list[Step], waits, periods=()) -> RunningOp:
        """The op, its first loads emitted; the rest one step per :meth:`RunningOp.advance`."""
        return RunningOp(self, index, record, steps, waits, periods)


class RunningOp:
    """One record's steps, emitted a step at a time (ops on different units interleave)."""

    def __init__(self, emitter: Emitter, index: int, record, steps: list[Step], waits,
                 periods) -> None:
        self.emitter, self.sink, self.index, self.steps = emitter, emitter.sink, index, steps
        self.waits, self.phase, self.label = list(waits), phase_of(record), record.layer
        self.unit = steps[0].work.unit
        self.made: list = []
        self.joined: set = set()  # (unit, instance > 0) that took a task of the op
        self.held: dict[int, list[tuple[list, bool, int]]] = {}  # last step -> (hold, until
        # store, instance)
        self.loads: list[list] = []  # [first user, last user + 1, task] of each load in use
        # Per instance, the output tile being accumulated; bytes read and written so far.
        self.state = {"out": {}, "read": 0, "written": 0}
        self.s = 0  # the next step
        self.ready: int | None = None  # see key
        skips = getattr(self.sink, "skips", False) and len(steps) >= Skipper.MIN_STEPS
        self.skipper = Skipper(self, periods) if skips else None
        for s in range(min(emitter.lookahead, len(steps))):
            self._load(s)

    @property
    def done(self) -> bool:
        return self.s >= len(self.steps)

    def key(self) -> tuple[int, int]:
        """When its unit is free (instance 0: the emitter's tasks run there), and when its
        inputs were ready (a timing sink's)."""
        if self.ready is None:  # its inputs were emitted before it: their ends are fixed
            self.ready = max((self.sink.end[h] for h in self.waits), default=0)
        return self.sink.free[self.unit][0], self.ready

    def _new(self, work, deps, instance: int = 0) -> object:
        # The op's first task waits for its inputs; the rest follow it on its unit or
        # depend on it, except the first on each other instance of a unit.
        first = not self.made
        if instance and (work.unit, instance) not in self.joined:
            self.joined.add((work.unit, instance))
            first = True
        deps = [*deps, *self.waits] if first else list(deps)
        self.made.append(self.sink.task(work, deps, self.index, self.phase, self.label,
                                        instance))
        return self.made[-1]

    def _load(self, s: int) -> None:
        emitter = self.emitter
        for item in self.steps[s].loads:
            task = self._new(item.work, emitter._wait_slot(item.role, item.instance),
                             item.instance if emitter.queues else 0)
            hold = emitter._hold(item.role, task, item.footprint, item.instance)
            self.held.setdefault(s + item.span - 1, []).append(
                (hold, item.until_store, item.instance))
            self.loads.append([s, s + item.span, task])
            self.state["read"] += item.work.bytes

    def _process(self, s: int) -> None:
        """Step ``s``: its computes, one per instance it has work for (``step.gang``), each
        after all the step's loads and output slots. The first instance has the most work
        in every step, so it is never free earlier than another and its compute ends last:
        it frees what they share, exactly."""
        emitter, step, state = self.emitter, self.steps[s], self.state
        if s + emitter.lookahead < len(self.steps):
            self._load(s + emitter.lookahead)
        deps = [task for first, end, task in self.loads if first <= s < end]
        self.loads = [load for load in self.loads if load[1] > s + 1]
        if not step.gang:  # the hot path: one instance
            self._alone(s, step, deps)
            return
        lanes = (step, *step.gang)
        for i, lane in enumerate(lanes):
            if lane.out:  # a GEMM output tile, held (partial sums, then results) until stored
                deps += emitter._wait_slot("outputs", i)
        computes, stores, outs = [], [], state["out"]
        for i, lane in enumerate(lanes):
            compute = self._new(lane.work, deps, i)
            computes.append(compute)
            if lane.out:
                outs[i] = emitter._hold("outputs", compute, lane.out, i)
            store = None
            if lane.store is not None:
                store = self._new(lane.store, [compute], i if emitter.queues else 0)
                state["written"] += lane.store.bytes
                out = outs.pop(i, None)
                if out is not None:
                    out[2] = store
            stores.append(store)
        for hold, until_store, i in self.held.pop(s, []):
            hold[2] = stores[i] if until_store and stores[i] is not None else computes[i]

    def _alone(self, s: int, step: Step, deps: list) -> None:
        """:meth:`_process` of a step on one instance."""
        emitter, state = self.emitter, self.state
        if step.out:  # a GEMM output tile, held (partial sums, then results) until stored
            deps += emitter._wait_slot("outputs")
        compute = self._new(step.work, deps)
        if step.out:
            state["out"][0] = emitter._hold("outputs", compute, step.out)
        store = None
        if step.store is not None:
            store = self._new(step.store, [compute])
            state["written"] += step.store.bytes
            out = state["out"].pop(0, None)
            if out is not None:
                out[2] = store
        for hold, until_store, _ in self.held.pop(s, []):
            hold[2] = store if until_store and store is not None else compute

    def advance(self, alone: bool = True, before: int | None = None) -> None:
        """Emit the next step. Repeating periods are skipped only while no other op's tasks
        came in between (``alone``: the skip's proof is about this op's tasks), and, with
        ``before``, only as far as this op's unit stays free before that cycle: while it
        does, this op's steps would have been emitted one after the other anyway (see
        :func:`_interleave`; :class:`~satsim.schedule.skip.Together` skips ops that take
        turns)."""
        mark = len(self.made)
        self._process(self.s)
        self.s += 1
        if self.skipper is not None:
            if alone:
                self.skipper.after(self.made[mark], before)
            else:
                self.skipper.forget()

    @cached_property
    def repeats(self) -> Repeats:
        return Repeats(self.steps)

    @cached_property
    def roles(self) -> tuple[str, ...]:
        """The roles whose slots its steps use."""
        used = {}
        for step in distinct(self.steps).values():
            used.update(dict.fromkeys(slot_key(load.role, load.instance) for load in step.loads))
            for i, lane in enumerate((step, *step.gang)):
                if lane.out:
                    used[slot_key("outputs", i)] = None
                if lane.store is not None:
                    used[slot_key(step.store_role, i)] = None
        return tuple(used)
