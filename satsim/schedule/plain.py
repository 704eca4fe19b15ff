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
is one task per part of its mapping (the closed forms, exactly).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.mapping import GemmMapping, map_gemm
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
    macs: int = 0  # executed by its steps (a GEMM's: its mapping's, tile by tile)


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
    macs: int = 0


@dataclass
class _Spec:
    work: Work
    deps: set[int]
    holds: list[list] = field(default_factory=list)  # [buffer, bytes, until]
    op: int = 0
    phase: Phase | None = None
    label: str = ""


def plan(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> Plan:
    """Schedule ``trace`` on ``hw`` under ``policy`` in the plain order."""
    sink = _Tasks()
    emitter = _Emitter(hw, sink)
    ops = walk(trace, hw, policy, emitter)
    return Plan(sink.program(emitter.roles), ops)


def walk(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
         emitter: _Emitter) -> dict[int, OpPlan]:
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
            ops[index] = OpPlan(tuple(made), read, written, mapping,
                                sum(step.macs for step in steps))
            done[index] = frozenset({made[-1]})
        else:
            ops[index] = OpPlan((), mapping=mapping)
            done[index] = waits
        if graph is not None:
            graph.note(index, record)
        previous = done[index]
    return ops


def _phase(record) -> Phase:
    if isinstance(record, GemmOp | VectorOp):
        return record.phase
    return Phase.WU if isinstance(record, UpdateOp) else Phase.MG


def _steps(index: int, record, mapping: GemmMapping | None, hw: HardwareConfig,
           policy: DataflowPolicy, sizes: Sizes | None,
           roles: dict[str, Slot] | None) -> list[_Step]:
    """The record's work as steps (no loads or stores on an ideal memory)."""
    if isinstance(record, GemmOp):
        if roles is None:
            return [_Step(Compute(part.cycles), macs=part.macs) for part in mapping.parts]
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
        steps = []
        for t, tile in enumerate(tiles):
            loads = [_Load(role, moved, footprint, spans[role][t])
                     for role, moved, footprint in (("activations", tile.load_a, tile.a_bytes),
                                                    ("weights", tile.load_b, tile.b_bytes))
                     if moved]
            steps.append(_Step(Compute(tile.cycles), loads, out=tile.out, store=tile.store_c,
                               macs=tile.macs))
        return steps
    work = _unit_work(index, record, hw, sizes)
    if work is None:
        return []
    if roles is None:
        return [_Step(work)]
    read = sizes.total(record.reads) if sizes is not None else 0
    written = sizes.total(record.writes) if sizes is not None else 0
    elements = work.groups * work.m if isinstance(work, MaskJob) else work.elements
    steps = []
    for count, load, store in chunks(elements, read, written, roles["vector"],
                                     f"record {index} ({record.layer})"):
        piece = (MaskJob(-(-count // work.m), work.m) if isinstance(work, MaskJob)
                 else VectorJob(count, work.cycles_per_element))
        # The chunk's slot holds its inputs and then its results until they are stored.
        loads = [_Load("vector", load, load + store, until_store=True)] if load else []
        steps.append(_Step(piece, loads, store=store))
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


class _Emitter:
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

        skipper = _Skipper(self, steps) if getattr(sink, "skips", False) else None
        s = 0
        while s < len(steps):
            mark = len(made)
            process(s)
            if skipper is not None:
                jump = skipper.after(s, made[mark:], loads_of, held, state)
                if jump:
                    read += jump * sum(item.bytes for item in steps[s + 1].loads)
                    written += jump * steps[s].store
                    s += jump
            s += 1
        return made, read, written


class _Skipper:
    """Skips the middle of a run of identical steps once it repeats itself exactly.

    After each step, the times that the rest of the op can depend on (its units' free
    times, every slot holding and pending load) are compared with the previous steps'. Once
    two consecutive steps moved them all by the same ``delta``, every further identical step
    will too (the schedule is a max-plus recurrence of fixed structure), so the sink shifts
    that state by ``n * delta`` and accounts for ``n`` more steps. Two steps are left at the
    end of the run to be timed one by one.
    """

    def __init__(self, emitter: _Emitter, steps: list[_Step]):
        self.emitter, self.sink, self.steps = emitter, emitter.sink, steps
        self.run_end = [0] * len(steps)  # exclusive end of the run of equal steps at s
        end = len(steps)
        for s in range(len(steps) - 1, -1, -1):
            if s + 1 < len(steps) and steps[s] != steps[s + 1]:
                end = s + 1
            self.run_end[s] = end
        self.history: list[tuple] = []

    def _roles(self, s: int, state: dict) -> set[str]:
        step = self.steps[s]
        outputs = step.out or state["out"] is not None
        return {item.role for item in step.loads} | ({"outputs"} if outputs else set())

    def _state(self, s: int, loads_of: dict, state: dict) -> tuple[tuple, list]:
        """(structure, handles) of what the following steps can wait for: the slots of the
        roles the run uses, its pending loads, its output tile."""
        handles, shape = [], []
        roles = self._roles(s, state)
        for role, queue in self.emitter.occupied.items():
            if role not in roles:
                continue
            shape.append((role, len(queue), tuple(h[2] is None for h in queue)))
            handles += [h[3] for h in queue] + [h[2] for h in queue if h[2] is not None]
        for k in sorted(loads_of):
            shape.append((k - s, len(loads_of[k])))
            handles += loads_of[k]
        shape.append(state["out"] is not None)
        return tuple(shape), handles

    def after(self, s: int, tasks: list, loads_of: dict, held: dict, state: dict) -> int:
        """Steps to skip after step ``s`` (0: none)."""
        end = self.run_end[s]
        if s + 4 >= end:
            self.history.clear()
            return 0
        shape, handles = self._state(s, loads_of, state)
        times = self.sink.times(handles, tasks)
        self.history = [*self.history[-2:], (shape, times)]
        if len(self.history) < 3 or len({h[0] for h in self.history}) != 1:
            return 0
        (_, a), (_, b), (_, c) = self.history
        deltas = {y - x for x, y in zip(a, b, strict=True)} | {
            y - x for x, y in zip(b, c, strict=True)}
        if len(deltas) != 1:
            return 0
        delta = deltas.pop()
        n = end - 3 - s
        if n <= 0 or delta <= 0:
            return 0
        moved = self.sink.shift(handles, tasks, n, delta)
        roles = self._roles(s, state)
        queues = [q for role, q in self.emitter.occupied.items() if role in roles]
        for queue in queues:
            for hold in queue:  # the holdings of step s + n: copies at the shifted times
                copy = [hold[0], hold[1], moved.get(hold[2]), moved[hold[3]]]
                moved[id(hold)] = copy
                self.sink.hold(copy)
                if hold[2] is None:  # still to be released: only its copy will be
                    self.sink.drop(hold)
        for queue in queues:
            for i, hold in enumerate(queue):
                queue[i] = moved[id(hold)]
        for k in [k for k in loads_of if k > s]:
            loads_of[k + n] = [moved[h] for h in loads_of.pop(k)]
        for k in sorted((k for k in held if k > s), reverse=True):
            held[k + n] = [(moved.get(id(h), h), flag) for h, flag in held.pop(k)]
        if state["out"] is not None:
            state["out"] = moved[id(state["out"])]
        self.history.clear()
        return n


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
