"""The plain schedule: a trace's records, in trace order, as a Program.

No SAT optimization: every unit takes its work in trace order, masks are generated on demand
(where the trace computes them, right before the layer's FF GEMM), every op reads its inputs
from DRAM and writes its results back (no tensor stays on chip from one op to the next), and
units overlap only where the tensor graph allows. A record waits for

* the last writer of every tensor it reads (read after write),
* the last writer and every reader since of every tensor it writes (write after write, write
  after read: an update must not overwrite a weight a GEMM still reads);

a v1 trace has no graph: each record then waits for the previous one (a sequential chain).
A record whose unit the hardware does not time (``sore: null``, ``vector: null``) gets no
task; its dependents wait for what it waited for.

Within an op (:mod:`satsim.schedule.tiling`), work is a sequence of **steps**: a GEMM tile
(load its A and B tiles unless already on chip, fold runs on the STCE, store its C tile) or a
chunk of streamed vector / update / SORE work (load the inputs, compute, store the outputs).
Loads run one step ahead when their buffers are double-buffered; a load waits for a free slot
(the slot's previous data released by the last step that used it); a GEMM's result holds an
output slot until it is stored. On an ideal memory there are no loads or stores, and a GEMM
is one task per part of its mapping (the closed forms, exactly). With a memory system all
transfers go through one DMA queue in Program order, so ops that use DRAM follow each other
and overlap only within their own pipeline (overlapping them is a scheduling optimization).

The emitter hands each task to a sink: :class:`_Tasks` builds the Program (for the engines,
the reference and the timeline), :mod:`satsim.timing.fast` times it on the fly.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.mapping import GemmMapping, map_gemm
from satsim.schedule.actions import stce_actions, stream_actions, tile_actions, unit_actions
from satsim.schedule.program import (
    Compute,
    Hold,
    MaskJob,
    Program,
    Task,
    Transfer,
    VectorJob,
    Work,
)
from satsim.schedule.tiling import FORMAT_BYTES, Sizes, Slot, chunks, gemm_bytes, gemm_tiles, slots
from satsim.trace.schema import GemmOp, MaskGenOp, Trace, UpdateOp, VectorOp
from satsim.types import Phase


@dataclass(frozen=True)
class OpPlan:
    """What one record became."""

    tasks: tuple  # its tasks' handles (task ids in a Plan), in Program order
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    mapping: GemmMapping | None = None
    actions: dict[tuple[str, str], int] = field(default_factory=dict)  # (unit, action) -> n

    @property
    def macs(self) -> int:
        """Executed by its steps (a GEMM's: its mapping's, tile by tile)."""
        return self.actions.get(("stce", "mac"), 0)


@dataclass(frozen=True)
class Plan:
    """A Program and what its tasks stand for."""

    program: Program
    ops: dict[int, OpPlan]  # record index -> its plan (untimed records: no tasks)

    @property
    def untimed(self) -> tuple[int, ...]:
        return tuple(i for i, op in self.ops.items() if not op.tasks)


@dataclass
class _Load:
    role: str
    bytes: int  # moved
    footprint: int  # held on chip
    span: int = 1  # steps that use it (a GEMM operand kept across the loop)
    until_store: bool = False  # held until the (last) step's result is stored, not computed


@dataclass
class _Step:
    work: Work
    loads: list[_Load] = field(default_factory=list)
    out: int = 0  # a GEMM output tile started here, held until a later (or this) store
    store: int = 0
    actions: tuple[tuple[tuple[str, str], int], ...] = ()  # ((unit, action), count)


@dataclass
class _Spec:
    work: Work
    deps: set[int]
    holds: list[list] = field(default_factory=list)  # [buffer, bytes, until, holder]
    op: int = 0
    phase: Phase | None = None
    label: str = ""


def plan(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> Plan:
    """Schedule ``trace`` on ``hw`` under ``policy`` in the plain order."""
    sink = _Tasks()
    emitter = Emitter(hw, sink)
    ops = walk(trace, hw, policy, emitter)
    return Plan(sink.program(emitter.roles), ops)


def walk(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
         emitter: Emitter) -> dict[int, OpPlan]:
    """Emit every record's steps in trace order, each waiting for what it depends on."""
    graph = _Hazards(trace) if trace.has_graph else None
    sizes = Sizes(trace, hw) if trace.has_graph else None
    ops: dict[int, OpPlan] = {}
    done: dict[int, frozenset] = {}  # record -> handles whose end completes it
    previous: frozenset = frozenset()
    for index, record in enumerate(trace.records):
        waits = graph.deps(record, done) if graph is not None else previous
        mapping = map_gemm(record, hw, policy) if isinstance(record, GemmOp) else None
        steps = _steps(index, record, mapping, hw, policy, sizes, emitter.roles)
        if steps:
            made, read, written = emitter.emit(index, record, steps, waits)
            ops[index] = OpPlan(tuple(made), read, written, mapping, _actions(steps))
            done[index] = frozenset({made[-1]})
        else:
            ops[index] = OpPlan((), mapping=mapping)
            done[index] = waits
        if graph is not None:
            graph.note(index, record)
        previous = done[index]
    return ops


def _actions(steps: list[_Step]) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], int] = {}
    # Equal steps are one object (see _steps): count each distinct step once, times its uses.
    uses = Counter(map(id, steps))
    for step in {id(step): step for step in steps}.values():
        for key, count in step.actions:
            total[key] = total.get(key, 0) + count * uses[id(step)]
    return total


def _phase(record) -> Phase:
    """A GEMM's phase; the phase of the unit's work for the others."""
    if isinstance(record, GemmOp):
        return record.phase
    if isinstance(record, VectorOp):
        return Phase.VEC
    return Phase.WU if isinstance(record, UpdateOp) else Phase.MASK


def _steps(index: int, record, mapping: GemmMapping | None, hw: HardwareConfig,
           policy: DataflowPolicy, sizes: Sizes | None,
           roles: dict[str, Slot] | None) -> list[_Step]:
    """The record's work as steps (no loads or stores on an ideal memory)."""
    if isinstance(record, GemmOp):
        rows, cols = hw.array.rows, hw.array.cols
        sparse = mapping.pattern is not None
        if roles is None:
            return [_Step(Compute(part.cycles), actions=stce_actions(
                part.macs, part.run.folds * part.run.stream_cycles * rows * cols, sparse))
                for part in mapping.parts]
        tiles = gemm_tiles(record, gemm_bytes(record, sizes, FORMAT_BYTES[hw.numerics.operand]),
                           mapping, hw, roles, policy.interleave, index)
        # A loaded operand stays on chip for the following tiles that load nothing for it.
        spans = {"activations": [1] * len(tiles), "weights": [1] * len(tiles)}
        for role, loads_it in (("activations", lambda u: u.load_a),
                               ("weights", lambda u: u.load_b)):
            run = 0
            for t in range(len(tiles) - 1, -1, -1):
                run += 1
                if loads_it(tiles[t]):
                    spans[role][t], run = run, 0
        steps, same = [], {}  # equal steps are one object: runs compare by identity
        for t, tile in enumerate(tiles):
            key = (tile, spans["activations"][t], spans["weights"][t])
            if key not in same:
                loads = [_Load(role, moved, footprint, spans[role][t])
                         for role, moved, footprint in (
                             ("activations", tile.load_a, tile.a_bytes),
                             ("weights", tile.load_b, tile.b_bytes)) if moved]
                same[key] = _Step(Compute(tile.cycles), loads, out=tile.out,
                                  store=tile.store_c,
                                  actions=tile_actions(tile, sparse, roles))
            steps.append(same[key])
        return steps
    work = _unit_work(index, record, hw, sizes)
    if work is None:
        return []
    if roles is None:
        return [_Step(work, actions=unit_actions(work, record))]
    read = sizes.total(record.reads) if sizes is not None else 0
    written = sizes.total(record.writes) if sizes is not None else 0
    # The SORE streams whole groups; the vector unit, elements.
    units = work.groups if isinstance(work, MaskJob) else work.elements
    steps, same = [], {}
    for piece in chunks(units, read, written, roles["vector"],
                        f"record {index} ({record.layer})",
                        "group" if isinstance(work, MaskJob) else "element"):
        if piece not in same:
            count, load, store = piece
            job = (MaskJob(count, work.m) if isinstance(work, MaskJob)
                   else VectorJob(count, work.cycles_per_element))
            # The chunk's slot holds its inputs and then its results until they are stored.
            loads = [_Load("vector", load, load + store, until_store=True)] if load else []
            same[piece] = _Step(job, loads, store=store, actions=unit_actions(
                job, record) + stream_actions(load, store, roles["vector"].buffer))
        steps.append(same[piece])
    return steps


def _unit_work(index: int, record, hw: HardwareConfig, sizes: Sizes | None) -> Work | None:
    """The SORE's or vector unit's work for a record (None: that unit is not timed)."""
    if isinstance(record, MaskGenOp):
        if hw.sore is None:
            return None
        return MaskJob(groups=math.ceil(record.elements / record.sparsity.m),
                       m=record.sparsity.m)
    if hw.vector is None:
        return None
    if isinstance(record, VectorOp):
        cost = hw.vector.cycles_per_element.get(record.op)
        if cost is None:
            raise SatsimError(f"record {index} ({record.layer}, {record.phase}) is vector op "
                              f"{record.op!r}, which has no cost in the table",
                              source=f"hardware {hw.name!r}",
                              field=f"vector.cycles_per_element.{record.op}")
        # A reduction (a loss, a bias gradient) works through its input, not its output.
        return VectorJob(max(record.elements, *(sizes.numel(t) for t in record.reads))
                         if sizes is not None and record.reads else record.elements, cost)
    if isinstance(record, UpdateOp):
        table = hw.vector.update_cycles_per_parameter
        # The WUVE updates the master weight, then writes the copy GEMMs read when the
        # operand format differs from the master's.
        steps = [record.optimizer] + (
            ["recast"] if hw.numerics.operand != hw.numerics.master else [])
        missing = [s for s in steps if s not in table]
        if missing:
            raise SatsimError(f"record {index} updates {record.param} with {missing[0]!r}, "
                              "which has no cost in the table", source=f"hardware {hw.name!r}",
                              field=f"vector.update_cycles_per_parameter.{missing[0]}")
        return VectorJob(record.elements, sum(table[s] for s in steps))
    raise TypeError(f"unknown record {record!r}")


class Emitter:
    """Walks each op's steps in Program order and hands every task to a sink, with slot
    reuse as dependencies: :class:`_Tasks` builds the Program, a timing sink
    (:mod:`satsim.timing.fast`) times it on the fly. Handles are the sink's."""

    def __init__(self, hw: HardwareConfig, sink):
        self.sink = sink
        self.roles = None if hw.memory == "ideal" else slots(hw.memory)
        # Per role: the holdings occupying its slots, oldest first.
        self.occupied: dict[str, deque[list]] = {r: deque() for r in (self.roles or {})}
        self.lookahead = int(bool(self.roles) and all(
            s.slots > 1 for s in self.roles.values()))

    def _wait_slot(self, role: str) -> list:
        """Reserve a slot of ``role``: the handle whose end frees the oldest one, if taken."""
        queue = self.occupied[role]
        if len(queue) < self.roles[role].slots:
            return []
        oldest = queue.popleft()
        assert oldest[2] is not None, "a slot reused before its last user was emitted"
        return [oldest[2]]

    def _hold(self, role: str, holder, footprint: int) -> list:
        """``[buffer, bytes, released by, holder]``, freed when its third item is set."""
        hold = [self.roles[role].buffer, footprint, None, holder]
        self.occupied[role].append(hold)
        self.sink.hold(hold)
        return hold

    def emit(self, index: int, record, steps: list[_Step], waits) -> tuple[list, int, int]:
        """The op's tasks (handles, in order), bytes read and written."""
        sink, made = self.sink, []
        phase, label = _phase(record), record.layer

        def new(work, deps):
            made.append(sink.task(work, list(deps) if made else [*deps, *waits], index,
                                  phase, label))
            return made[-1]

        held: dict[int, list[tuple[list, bool]]] = {}  # last step -> (holding, until store)
        loads_of: dict[int, list] = {}
        read = written = 0

        def load(s: int) -> None:
            nonlocal read
            for item in steps[s].loads:
                task = new(Transfer(item.bytes, write=False), self._wait_slot(item.role))
                held.setdefault(s + item.span - 1, []).append(
                    (self._hold(item.role, task, item.footprint), item.until_store))
                for user in range(s, s + item.span):
                    loads_of.setdefault(user, []).append(task)
                read += item.bytes

        for s in range(min(self.lookahead, len(steps))):
            load(s)
        state = {"out": None}

        def process(s: int) -> None:
            nonlocal written
            step = steps[s]
            if s + self.lookahead < len(steps):
                load(s + self.lookahead)
            deps = loads_of.pop(s, [])
            if step.out:  # a GEMM output tile, held (partial sums, then results) until stored
                deps += self._wait_slot("outputs")
            compute = new(step.work, deps)
            if step.out:
                state["out"] = self._hold("outputs", compute, step.out)
            store = None
            if step.store:
                store = new(Transfer(step.store, write=True), [compute])
                written += step.store
                if state["out"] is not None:
                    state["out"][2], state["out"] = store, None
            for hold, until_store in held.pop(s, []):
                hold[2] = store if until_store and store is not None else compute

        skips = getattr(sink, "skips", False) and len(steps) >= _Skipper.MIN_STEPS
        skipper = _Skipper(self, steps) if skips else None
        s = 0
        while s < len(steps):
            mark = len(made)
            process(s)
            if skipper is not None:
                jump = skipper.after(s, made, mark, loads_of, held, state)
                if jump:  # identical periods: the same bytes as the last one, again
                    p, ahead = skipper.last_period, self.lookahead
                    loaded = steps[s + 1 - p + ahead:s + 1 + ahead]
                    read += jump // p * sum(x.bytes for step in loaded for x in step.loads)
                    written += jump // p * sum(x.store for x in steps[s + 1 - p:s + 1])
                    s += jump
            s += 1
        return made, read, written


class _Skipper:
    """Skips whole periods of an op's steps once they repeat themselves exactly.

    An op's steps are often periodic: identical chunks (period 1), the tiles of one column of
    a GEMM (period: the tiles per column), the heads of a batched GEMM. After each step the
    times the rest of the op can depend on (its units' free times, the slots of the roles it
    uses, its pending loads and output tile) are compared with those one and two periods
    earlier. Once two consecutive periods moved them all by the same ``delta`` over
    identical steps, every further identical period will too (the schedule is a max-plus
    recurrence of fixed structure), so the sink shifts that state by ``n * delta`` and
    accounts for ``n`` more periods. Two periods are left at the end to be timed one by one.
    """

    MAX_PERIOD = 256
    MIN_STEPS = 16  # fewer: nothing to gain

    def __init__(self, emitter: Emitter, steps: list[_Step]):
        self.emitter, self.sink, self.steps = emitter, emitter.sink, steps
        keys = [id(step) for step in steps]  # equal steps are one object (see _steps)
        last: dict = {}
        distances: dict[int, int] = {1: 0}
        for i, key in enumerate(keys):  # how far back each step last appeared
            if key in last and i - last[key] <= self.MAX_PERIOD:
                distances[i - last[key]] = distances.get(i - last[key], 0) + 1
            last[key] = i
        self.periods = sorted(sorted(distances, key=distances.get, reverse=True)[:3])
        # Per period: periodic_end[p][i] = first j >= i with keys[j] != keys[j - p].
        self.periodic_end = {}
        for p in self.periods:
            ends, end = [0] * (len(keys) + 1), len(keys)
            ends[len(keys)] = end
            for i in range(len(keys) - 1, -1, -1):
                if i < p or keys[i] != keys[i - p]:
                    end = i
                ends[i] = end
            self.periodic_end[p] = ends
        self.snapshots: dict[tuple[int, int], tuple] = {}  # (period, step) -> state
        self.marks: dict[int, int] = {}  # step -> len(made) before it

    def _roles(self, first_task) -> set[str]:
        """The roles whose slots the period used: those holding a task of it (tasks are
        handed out in increasing order)."""
        return {role for role, queue in self.emitter.occupied.items()
                if any(hold[3] >= first_task for hold in queue)}

    def _state(self, roles: set[str], state: dict) -> tuple[tuple, list]:
        """(structure, handles) of what the following steps can wait for: the slots of the
        roles in use (a pending load is the holder of one of them) and the output tile."""
        handles, shape = [], []
        for role, queue in self.emitter.occupied.items():
            if role in roles:
                shape.append((role, len(queue), tuple(h[2] is None for h in queue)))
                handles += [h[3] for h in queue] + [h[2] for h in queue if h[2] is not None]
        shape.append(state["out"] is not None)
        if state["out"] is not None:
            handles.append(state["out"][3])
        return tuple(shape), handles

    def after(self, s: int, made: list, mark: int, loads_of: dict, held: dict,
              state: dict) -> int:
        """Steps to skip after step ``s`` (0: none); ``made[mark:]`` are step ``s``'s tasks."""
        self.marks[s] = mark
        for p in self.periods:
            begin = s - 2 * p + 1
            if begin < 0:
                continue
            end = self.periodic_end[p][begin] if begin >= p else self.periodic_end[p][p]
            if begin < p and any(self.steps[i] is not self.steps[i + p]
                                 for i in range(begin, p)):
                continue
            n = (end - (s + 1) - 2 * p) // p  # whole periods to skip, two left to time
            if n < 1:
                continue
            first = self.marks.get(s - p + 1)  # None: that step was skipped, not timed
            if first is None:
                continue
            tasks = made[first:]  # the last period's tasks
            roles = self._roles(tasks[0])
            shape, handles = self._state(roles, state)
            now = (shape, self.sink.times(handles, tasks))
            self.snapshots[p, s] = now
            self.snapshots.pop((p, s - 3 * p), None)
            one, two = self.snapshots.get((p, s - p)), self.snapshots.get((p, s - 2 * p))
            if one is None or two is None or not (now[0] == one[0] == two[0]):
                continue
            deltas = {y - x for x, y in zip(one[1], now[1], strict=True)} | {
                y - x for x, y in zip(two[1], one[1], strict=True)}
            if len(deltas) != 1 or (delta := deltas.pop()) <= 0:
                continue
            self._shift(s, n, p, delta, roles, handles, tasks, loads_of, held, state)
            self.snapshots.clear()
            self.last_period = p
            return n * p
        return 0

    def _shift(self, s, n, p, delta, roles, handles, tasks, loads_of, held, state) -> None:
        moved = self.sink.shift(handles, tasks, n, delta)
        queues = [q for role, q in self.emitter.occupied.items() if role in roles]
        # The holdings n periods on: copies at the shifted times, for the slot waits to come.
        # Occupancy repeats with the periods, so the peaks are those of the periods already
        # timed: copies are not counted, and a holding still pending here is dropped from the
        # count (its copy will be released, not it).
        for queue in queues:
            for hold in queue:
                moved[id(hold)] = [hold[0], hold[1], moved.get(hold[2]), moved[hold[3]]]
                if hold[2] is None:
                    self.sink.drop(hold)
        for queue in queues:
            for i, hold in enumerate(queue):
                queue[i] = moved[id(hold)]
        jump = n * p
        # Pending loads and releases of the period move on with it. A load of a role the
        # period does not load (an operand kept across it) is the same task throughout: it
        # keeps its place (its last user is where it was), and it ended before the computes
        # already timed, so it cannot delay any later one.
        later_loads, later_held = {}, {}
        for k in [k for k in loads_of if k > s]:
            for h in loads_of.pop(k):
                key = k + jump if h in moved else k
                later_loads.setdefault(key, []).append(moved.get(h, h))
        for k in [k for k in held if k > s]:
            for h, flag in held.pop(k):
                key = k + jump if id(h) in moved else k
                later_held.setdefault(key, []).append((moved.get(id(h), h), flag))
        loads_of.update(later_loads)
        held.update(later_held)
        if state["out"] is not None:
            state["out"] = moved[id(state["out"])]


class _Tasks:
    """Sink that builds the Program: a handle is a task id."""

    def __init__(self) -> None:
        self.specs: list[_Spec] = []

    def task(self, work: Work, deps: list, op: int, phase: Phase, label: str) -> int:
        self.specs.append(_Spec(work, set(deps), op=op, phase=phase, label=label))
        return len(self.specs) - 1

    def hold(self, hold: list) -> None:
        self.specs[hold[3]].holds.append(hold)

    def program(self, roles: dict[str, Slot] | None) -> Program:
        tasks = tuple(Task(i, s.work, tuple(sorted(s.deps)),
                           tuple(Hold(b, n, until) for b, n, until, _ in s.holds),
                           op=s.op, phase=s.phase, label=s.label)
                      for i, s in enumerate(self.specs))
        buffers = {} if roles is None else {s.buffer: s.bytes * s.slots for s in roles.values()}
        return Program(tasks, buffers)


class _Hazards:
    """Who last wrote each tensor, and who read it since: a record's dependencies. A read
    of a part of a tensor (a view entry) is a read of the tensor."""

    def __init__(self, trace: Trace) -> None:
        self.base = {t.id: t.view_of for t in trace.tensors if t.view_of is not None}
        self.writer: dict[int, int] = {}
        self.readers: dict[int, list[int]] = {}

    def _reads(self, record) -> list[int]:
        return [self.base.get(t, t) for t in record.reads]

    def deps(self, record, done: dict[int, frozenset[int]]) -> frozenset[int]:
        records = {self.writer[t] for t in self._reads(record) if t in self.writer}
        for t in record.writes:
            if t in self.writer:
                records.add(self.writer[t])
            records.update(self.readers.get(t, ()))
        return frozenset().union(*(done[r] for r in records))

    def note(self, index: int, record) -> None:
        for t in self._reads(record):
            self.readers.setdefault(t, []).append(index)
        for t in record.writes:  # a new version: its readers are still to come
            self.writer[t] = index
            self.readers[t] = []
