"""The plain schedule: a trace's records, in trace order, as a Program.

Without SAT's optimizations every unit takes its work in trace order, masks are generated on
demand (where the trace computes them, right before the layer's FF GEMM), every op reads its inputs
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
Their sizes are the fastest alone among those of buffer-independent ladders that fit
(:class:`Tiler`), so that a bigger buffer never slows a run.
Loads run one step ahead when their buffers are double-buffered; a load waits for a free slot
(the slot's previous data released by the last step that used it); a GEMM's result holds an
output slot until it is stored. On an ideal memory there are no loads or stores, and a GEMM
is one task per part of its mapping (the closed forms, exactly). With a memory system all
transfers go through one DMA queue in Program order. One op at a time, ops that use DRAM
follow each other and overlap only within their own pipeline; with ``interleave`` (SAT's
interleave mapping beyond one op) a GEMM and a stream op run side by side wherever the graph
allows, their steps interleaved on the DMA (:func:`_interleave`). With ``pregenerate`` the
SORE runs ahead on a lane of its own: each iteration is simulated from an idle machine (every
iteration of training repeats the same static schedule), so every layer's updated weight
exists when it starts, and the SORE generates the iteration's sparse weights from then on,
in trace order, while the other units work, instead of when the GEMMs reach them.

The emitter hands each task to a sink: :class:`_Tasks` builds the Program (for the engines,
the reference and the timeline), :mod:`satsim.timing.fast` times it on the fly.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.mapping import GemmMapping, map_gemm
from satsim.schedule.actions import (
    stce_actions,
    stream_access,
    stream_actions,
    tile_access,
    tile_actions,
    unit_actions,
)
from satsim.schedule.choices import GemmChoice, Schedule
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
from satsim.schedule.skip import Repeats, Skipper, Together
from satsim.schedule.tiling import (
    FORMAT_BYTES,
    GemmBytes,
    Sizes,
    Slot,
    Tile,
    capacities,
    chunk_sizes,
    chunks,
    gemm_bytes,
    n_outer_rule,
    part_bytes,
    part_tiles,
    slots,
    tile_sizes,
)
from satsim.timing.clock import Clock
from satsim.timing.units import Machine
from satsim.trace.schema import GemmOp, MaskGenOp, Trace, UpdateOp, VectorOp
from satsim.types import Phase, Stationarity


@dataclass(frozen=True)
class OpPlan:
    """What one record became."""

    tasks: tuple  # its tasks' handles (task ids in a Plan), in Program order
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    mapping: GemmMapping | None = None
    actions: dict[tuple[str, str], int] = field(default_factory=dict)  # (unit, action) -> n
    inputs: tuple = ()  # handles of the other records' tasks it waits for (the graph's)

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


@dataclass(slots=True)
class _Load:
    role: str
    work: Transfer  # its bytes, into the role's buffer
    footprint: int  # held on chip
    span: int = 1  # steps that use it (a GEMM operand kept across the loop)
    until_store: bool = False  # held until the (last) step's result is stored, not computed


@dataclass(slots=True)
class _Step:
    work: Work
    loads: list[_Load] = field(default_factory=list)
    out: int = 0  # a GEMM output tile started here, held until a later (or this) store
    store: Transfer | None = None  # its result's bytes, from the slot of store_role
    store_role: str = "outputs"
    actions: tuple[tuple[tuple[str, str], int], ...] = ()  # ((unit, action), count)


@dataclass(slots=True)
class _Spec:
    work: Work
    deps: set[int]
    holds: list[list] = field(default_factory=list)  # [buffer, bytes, until, holder]
    op: int = 0
    phase: Phase | None = None
    label: str = ""


def plan(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
         order: Sequence[int] | None = None, schedule: Schedule | None = None) -> Plan:
    """Schedule ``trace`` on ``hw`` under ``policy``: as ``schedule`` fixes it, else in
    ``order``, else in the order the offline scheduler chooses
    (:func:`satsim.timing.fast.chosen_order`)."""
    if schedule is not None:
        order = schedule.order
    elif order is None:
        from satsim.timing.fast import chosen_order  # it times this module's schedules
        order = chosen_order(trace, hw, policy)
    sink = _Tasks(Machine.from_hardware(hw))
    emitter = Emitter(hw, sink)
    ops = walk(trace, hw, policy, emitter, order, schedule=schedule)
    return Plan(sink.program(emitter.roles), ops)


def dependencies(trace: Trace, order: Sequence[int]) -> dict[int, set[int]]:
    """Every record's dependencies as records, the records issued in ``order`` (a v1
    trace: the previous one, a chain)."""
    if not trace.has_graph:
        return {index: {previous} if at else set()
                for at, (previous, index) in enumerate(zip([-1, *order], order, strict=False))}
    graph, need = _Hazards(trace), {}
    for index in order:
        need[index] = graph.records(trace.records[index])
        graph.note(index, trace.records[index])
    return need


def walk(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy, emitter: Emitter,
         order: Sequence[int] | None = None, tiler: Tiler | None = None,
         schedule: Schedule | None = None) -> dict[int, OpPlan]:
    """Emit every record's steps, each op waiting for what it depends on; the plans in the
    order the ops were completed.

    Ops go in ``order`` on each unit. With a memory system, a tensor graph and
    ``interleave``, two ops run side by side, a GEMM on the array and a stream (vector,
    update or mask generation) on its unit, whenever the graph allows: their steps go to the
    DMA interleaved, the step of the op whose unit is free earlier first (see
    :func:`_interleave`). Otherwise one op at a time, each whole. ``order``: the records'
    issue order (default: the trace's; see :mod:`satsim.schedule.order`); ``tiler``: one
    that chose tiles for this hardware and policy before (its choices are reused);
    ``schedule``: the GEMMs' stationarities it fixes (the tiler, made with it, the sizes)."""
    sizes = Sizes(trace, hw) if trace.has_graph else None
    if tiler is None and emitter.roles:
        tiler = Tiler(hw, policy, emitter.roles, schedule)

    def _stationarity(index: int):
        """The schedule's stationarity for a GEMM, if it fixes one."""
        choice = schedule.ops.get(index) if schedule is not None else None
        if not isinstance(choice, GemmChoice):
            return None
        if tiler is None and choice.parts:
            raise schedule.error(index, "parts", "ideal memory has no tiles")
        if choice.stationarity is Stationarity.IS and hw.array.timing == "satsim":
            raise schedule.error(index, "stationarity", "the STCE runs os or ws (is: only "
                                 "in SCALE-Sim's conventions)")
        return choice.stationarity
    order = range(len(trace.records)) if order is None else order
    need = dependencies(trace, order)
    ops: dict[int, OpPlan] = {}
    done: dict[int, frozenset] = {}  # record -> handles whose end completes it
    mappings: dict[int, GemmMapping | None] = {}

    def begin(index: int) -> _Op | None:
        """The record's op, started; None (and the record done) if it has no work."""
        record = trace.records[index]
        waits = frozenset().union(*(done[r] for r in need[index]))
        mapping = None
        if isinstance(record, GemmOp):
            fixed = _stationarity(index)
            mapping = map_gemm(record, hw, policy, fixed)
            if (fixed is None and tiler is not None and policy.offline_schedule
                    and policy.stationarity_for(record.phase) is None):
                mapping = tiler.faster_mapping(index, record, mapping, policy, sizes)
        mappings[index] = mapping
        steps, periods = _steps(index, record, mapping, hw, sizes, tiler)
        if not steps:
            ops[index], done[index] = OpPlan((), mapping=mapping), waits
            return None
        return emitter.start(index, record, steps, waits, periods)

    counted: dict[int, tuple[list, dict]] = {}  # ops like one before share its steps

    def finish(op: _Op) -> None:
        if id(op.steps) not in counted:
            counted[id(op.steps)] = op.steps, _actions(op.steps)
        ops[op.index] = OpPlan(tuple(op.made), op.state["read"], op.state["written"],
                               mappings[op.index], dict(counted[id(op.steps)][1]),
                               tuple(op.waits))
        done[op.index] = frozenset({op.made[-1]})

    lane_of = _lanes(trace, hw, policy, tiler)
    if lane_of is not None:
        together = Together(emitter) if getattr(emitter.sink, "skips", False) else None
        _interleave(trace, order, need, done, begin, finish, lane_of, together)
        return ops
    for index in order:
        op = begin(index)
        if op is not None:
            while not op.done:
                op.advance()
            finish(op)
    return ops


# Lanes, in the order that breaks ties: GEMMs on the STCE; vector, update (and on-demand
# SORE) work; every op one at a time (without interleave mapping); pre-generated masks.
_LANES = ("array", "stream", "machine", "sore")
_RANK = {lane: rank for rank, lane in enumerate(_LANES)}


def _lanes(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy, tiler: Tiler | None):
    """Which lane each record runs on (see :func:`_interleave`), or None when ops simply
    run one at a time (no memory system, no tensor graph, or neither interleave mapping nor
    pre-generation). With ``interleave`` a GEMM and a stream op run side by side; with
    ``pregenerate`` the SORE runs ahead on a lane of its own, its streams in the buffer
    holding ``masks`` (needed: the other lanes' slots are theirs)."""
    ahead = policy.pregenerate and any(isinstance(r, MaskGenOp) for r in trace.records)
    if tiler is None or not trace.has_graph or not (policy.interleave_ops or ahead):
        return None
    if ahead and "masks" not in tiler.roles:
        raise SatsimError("pre-generation runs the SORE ahead of the GEMMs on slots of its "
                          "own, but no buffer holds masks", source=f"hardware {hw.name!r}",
                          field="memory.buffers.<name>.holds")

    def lane_of(record) -> str:
        if ahead and isinstance(record, MaskGenOp):
            return "sore"
        if not policy.interleave_ops:
            return "machine"
        return "array" if isinstance(record, GemmOp) else "stream"

    return lane_of


def _interleave(trace: Trace, order, need: dict[int, set[int]], done: dict, begin,
                finish, lane_of, together: Together | None = None) -> None:
    """Run ``order``'s records on lanes (``lane_of``), each in order: an op starts once its
    lane is free and every record it depends on is done; of the ops running, the one whose
    unit is free earlier (then whose inputs were ready earlier, then the lane first in
    ``_LANES``) emits its next step. So the DMA takes their transfers roughly in the order
    they are needed, and each unit works on while the others' ops run. The lanes share no
    buffer slot (the array's roles are the GEMM operands and results, the stream's the
    vector buffer, pre-generated masks' the masks buffer), and the order is the sink's
    timing: the Program records it, and the engines replay it. ``together`` (a sink that
    skips) skips the periods in which the ops running take turns alike."""
    queues = {lane: deque() for lane in _LANES}
    for index in order:
        queues[lane_of(trace.records[index])].append(index)
    active: dict[str, _Op] = {}
    last = None
    while True:
        admitted = True
        while admitted:
            admitted = False
            for lane in _LANES:
                queue = queues[lane]
                if lane not in active and queue and need[queue[0]] <= done.keys():
                    op = begin(queue.popleft())
                    admitted = True
                    if op is not None:
                        active[lane] = op
        if not active:
            assert not any(queues.values()), "an op waits for one that can never start"
            return
        keys = {name: (*op.key(), _RANK[name]) for name, op in active.items()}
        lane = min(active, key=keys.__getitem__)
        op = active[lane]
        # It may skip periods while its unit stays free before the other op's: up to
        # there, it would take every step anyway.
        before = min((keys[name][0] for name in active if name != lane), default=None)
        op.advance(alone=last is op, before=before)
        last = op
        if op.done:
            finish(op)
            del active[lane]
        elif (together is not None and len(active) > 1
              and together.after([active[name] for name in _LANES if name in active], op)):
            last = None  # the ops' own skippers start afresh


def _distinct(steps: list[_Step]) -> dict[int, _Step]:
    """Each distinct step by its id: equal steps are one object (see :func:`_steps`)."""
    return dict(zip(map(id, steps), steps, strict=True))


def _actions(steps: list[_Step]) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], int] = {}
    uses = Counter(map(id, steps))  # each distinct step counted once, times its uses
    for key, step in _distinct(steps).items():
        for action, count in step.actions:
            total[action] = total.get(action, 0) + count * uses[key]
    return total


def phase_of(record) -> Phase:
    """A GEMM's phase; the phase of the unit's work for the others."""
    if isinstance(record, GemmOp):
        return record.phase
    if isinstance(record, VectorOp):
        return Phase.VEC
    return Phase.WU if isinstance(record, UpdateOp) else Phase.MASK


def _steps(index: int, record, mapping: GemmMapping | None, hw: HardwareConfig,
           sizes: Sizes | None, tiler: Tiler | None) -> tuple[list[_Step], set[int]]:
    """The record's work as steps (no loads or stores on an ideal memory), and the periods
    at which they may repeat themselves (see :class:`~satsim.schedule.skip.Skipper`)."""
    if isinstance(record, GemmOp):
        rows, cols = hw.array.rows, hw.array.cols
        sparse = mapping.pattern is not None
        if tiler is None:
            return [_Step(Compute(part.cycles), actions=stce_actions(
                part.macs, part.run.folds * part.run.stream_cycles * rows * cols, sparse))
                for part in mapping.parts], set()
        return tiler.gemm(index, record, mapping,
                          gemm_bytes(record, sizes, FORMAT_BYTES[hw.numerics.operand]))
    work = _unit_work(index, record, hw, sizes)
    if work is None:
        return [], set()
    if tiler is None:
        return [_Step(work, actions=unit_actions(work, record))], set()
    read = sizes.total(record.reads) if sizes is not None else 0
    written = sizes.total(record.writes) if sizes is not None else 0
    return tiler.stream(index, record, work, read, written)


def _tile_steps(tiles: list[Tile], sequence: np.ndarray, sparse: bool,
                roles: dict[str, Slot]) -> list[_Step]:
    """A GEMM part's tiles (step ``s`` is ``tiles[sequence[s]]``) as steps. A loaded
    operand stays on chip for the following tiles that load nothing for it: its span runs
    to the next tile that loads it. (Equal steps are one object: runs compare by identity.
    Worked out with arrays, as a big GEMM has millions of tiles of a few kinds.)"""
    count, key, spans = len(sequence), sequence.astype(np.int64), {}
    for role, loads in (("activations", [t.load_a > 0 for t in tiles]),
                        ("weights", [t.load_b > 0 for t in tiles])):
        at = np.flatnonzero(np.asarray(loads, dtype=bool)[sequence])
        spans[role] = np.zeros(count, dtype=np.int64)  # 0: the step loads nothing for it
        spans[role][at] = np.diff(at, append=count)
        values, codes = np.unique(spans[role], return_inverse=True)
        key = key * len(values) + codes
    _, first, order = np.unique(key, return_index=True, return_inverse=True)
    same = []
    for at in first.tolist():
        tile = tiles[sequence[at]]
        # The works are made once here: the clock looks their costs up by identity.
        loads = [_Load(role, Transfer(moved, False, roles[role].buffer), footprint,
                       int(spans[role][at]))
                 for role, moved, footprint in (
                     ("activations", tile.load_a, tile.a_bytes),
                     ("weights", tile.load_b, tile.b_bytes)) if moved]
        store = Transfer(tile.store_c, True, roles["outputs"].buffer) if tile.store_c else None
        same.append(_Step(Compute(tile.cycles, tile_access(tile, roles)), loads, out=tile.out,
                          store=store, actions=tile_actions(tile, sparse, roles)))
    return list(map(same.__getitem__, order.tolist()))


class Tiler:
    """Chooses each op's tiles (a GEMM part) or chunks (a stream) with a memory system.

    The sizes come from ladders that do not depend on the buffers (see
    :mod:`satsim.schedule.tiling`); of those that fit, the one whose steps run fastest
    alone (on an idle machine, timed exactly by the one-pass clock), ties to the bigger
    tiles. A bigger buffer only adds sizes that fit, so it never makes an op slower alone.
    Lower bounds of each size's cycles spare timing most of them (branch and bound: sizes
    are timed in the order of their bounds until a bound exceeds the best time), and an op
    like one already chosen (same shape, bytes and work) reuses its steps.
    """

    def __init__(self, hw: HardwareConfig, policy: DataflowPolicy, roles: dict[str, Slot],
                 fixed: Schedule | None = None):
        self.hw, self.interleave, self.roles = hw, policy.interleave_folds, roles
        self.machine = Machine.from_hardware(hw)
        self.ahead = Emitter(hw, None).lookahead
        self.chosen: dict[tuple, tuple[list[_Step], set[int]]] = {}
        self.size: dict[tuple, object] = {}  # the size each chosen op shape got
        # Choices a schedule file fixes, and those made, per record: a GEMM's (size,
        # N-outer) per part, a stream's chunk size.
        self.fixed, self.picked = fixed, {}
        self.faster: dict[tuple, Stationarity] = {}  # see faster_mapping
        self.search_loops = policy.offline_schedule  # else loop orders follow the rule

    def _given(self, index: int, gemm: bool):
        """The schedule's choice for record ``index``, if it fixes one (checked: a GEMM's
        for a GEMM, a chunk for a stream)."""
        if self.fixed is None or index not in self.fixed.ops:
            return None
        choice = self.fixed.ops[index]
        if isinstance(choice, GemmChoice) != gemm:
            want = ("a GEMM: give its stationarity and parts" if gemm
                    else "a stream op: give its chunk")
            raise self.fixed.error(index, "", f"record {index} is {want}")
        return choice

    def _alone(self, index: int, record, steps: list[_Step], periods: set[int]) -> int:
        """Cycles of ``steps`` on an idle machine."""
        clock = Clock(self.machine)
        Emitter(self.hw, clock).emit(index, record, steps, (), periods)
        return max(clock.end)

    def _best(self, index: int, record, sizes: list[tuple[float, object]], build,
              bigger) -> tuple[list[_Step], set[int]]:
        best = None  # (cycles, preference, steps, periods, size)
        for bound, size in sorted(sizes, key=lambda x: (x[0], bigger(x[1]))):
            if best is not None and bound > best[0]:
                break
            steps, periods = build(size)
            cycles = self._alone(index, record, steps, periods)
            if best is None or (cycles, bigger(size)) < best[:2]:
                best = (cycles, bigger(size), steps, periods, size)
        return best[2], best[3], best[4]

    def _loops(self, sizes: list, part, total: GemmBytes) -> list:
        """The sizes and loop orders searched: both orders of a whole reduction when the
        offline scheduler chooses them, else the rule's (:func:`n_outer_rule`)."""
        if self.search_loops:
            return sizes
        return [(bound, size) for bound, size in sizes
                if size[3] == n_outer_rule(part, total, size[:3])]

    @staticmethod
    def _key(part, total: GemmBytes, mapping: GemmMapping) -> tuple:
        return (part.shape, total, mapping.stationarity, mapping.pattern)

    def faster_mapping(self, index: int, record: GemmOp, mapping: GemmMapping,
                       policy: DataflowPolicy, sizes: Sizes | None) -> GemmMapping:
        """Of ``mapping`` (the closed forms' choice of OS or WS) and the other stationarity,
        the one whose tiles run faster alone (the offline scheduler's choice: memory
        included); a tie keeps ``mapping``."""
        op_bytes = gemm_bytes(record, sizes, FORMAT_BYTES[self.hw.numerics.operand])
        other = (Stationarity.OS if mapping.stationarity is Stationarity.WS
                 else Stationarity.WS)
        key = (mapping.lowering, tuple(p.shape for p in mapping.parts), mapping.pattern,
               op_bytes, mapping.stationarity)
        if key not in self.faster:
            timed = []
            for candidate in (mapping, map_gemm(record, self.hw, policy, other)):
                steps, periods = self.gemm(index, record, candidate, op_bytes)
                timed.append((self._alone(index, record, steps, periods), candidate))
            self.faster[key] = min(timed, key=lambda t: t[0])[1].stationarity
        if self.faster[key] is mapping.stationarity:
            return mapping
        return map_gemm(record, self.hw, policy, self.faster[key])

    def tile_sizes(self, index: int, record: GemmOp, mapping: GemmMapping,
                   op_bytes: GemmBytes) -> list[tuple[int, int, int]]:
        """The ``(mt, kt, nt)`` tile size of each of the op's parts, as :meth:`gemm` chooses
        them (the slices of K decide a GEMM's accumulation order: the functional model)."""
        self.gemm(index, record, mapping, op_bytes)
        return [size for size, _ in self.picked[index]]

    def gemm(self, index: int, record: GemmOp, mapping: GemmMapping,
             op_bytes: GemmBytes) -> tuple[list[_Step], set[int]]:
        """The op's parts' steps, one after the other (each part's tiles chosen alone, or
        as the schedule fixes them)."""
        sparse = mapping.pattern is not None
        given = self._given(index, gemm=True)
        if given is not None and len(given.parts) != len(mapping.parts):
            raise self.fixed.error(index, "parts", f"{len(mapping.parts)} parts (tile sizes) "
                                   f"for this GEMM's mapping, not {len(given.parts)}")
        steps, periods, picked = [], set(), []
        for at, (part, total) in enumerate(zip(mapping.parts, part_bytes(op_bytes, mapping),
                                               strict=True)):
            def build(size, n_outer=None, part=part, total=total):
                if n_outer is None:  # a searched size: (mt, kt, nt, n_outer)
                    *size, n_outer = size
                tiles, sequence, loops = part_tiles(part, total, mapping, self.hw,
                                                    self.interleave, tuple(size), n_outer)
                return _tile_steps(tiles, sequence, sparse, self.roles), loops

            def sizes(search=True, part=part, total=total):
                """The search's candidates (bounds, both loop orders), or the sizes
                that fit."""
                return tile_sizes(record, part, total, mapping, self.hw, self.roles,
                                  self.interleave, index, self.machine, self.ahead,
                                  bound=search, loops=search)

            key = self._key(part, total, mapping)
            if given is not None:
                size, n_outer = given.parts[at]
                key = (*key, size, n_outer)
                if key not in self.chosen:
                    if size not in {s for _, s in sizes(search=False)}:
                        raise self.fixed.error(index, f"parts[{at}].tile", f"{list(size)} is "
                                               "not a tile size of the ladders that fits the "
                                               "buffers")
                    if not n_outer and size[1] < part.shape.k:
                        raise self.fixed.error(index, f"parts[{at}].loop", "a reduction cut "
                                               "into slices keeps its output tile on chip: "
                                               "n-outer")
                    self.chosen[key] = build(size, n_outer)
            elif key not in self.chosen:
                # Ties: the bigger tile, then the loop order of the rule.
                steps_of, loops_of, (*size, n_outer) = self._best(
                    index, record, self._loops(sizes(), part, total), build,
                    lambda size, part=part, total=total: (
                        -size[1], -size[2], -size[0],
                        size[3] != n_outer_rule(part, total, size[:3])))
                self.size[key] = tuple(size), n_outer
                self.chosen[key] = steps_of, loops_of
            picked.append(given.parts[at] if given is not None else self.size[key])
            more, loops = self.chosen[key]
            steps = more if not steps else steps + more
            periods |= loops
        self.picked[index] = tuple(picked)
        return steps, periods

    def stream(self, index: int, record, work: MaskJob | VectorJob, read: int,
               written: int) -> tuple[list[_Step], set[int]]:
        """A vector, update or SORE job's chunks as steps."""
        sore = isinstance(work, MaskJob)
        role = "masks" if sore and "masks" in self.roles else "vector"
        slot = self.roles[role]
        key = (type(record), work, read, written,
               record.sparsity.n if isinstance(record, MaskGenOp) else None)
        given = self._given(index, gemm=False)
        if given is None and key in self.chosen:
            self.picked[index] = self.size[key]
            return self.chosen[key]
        if given is not None and (*key, given) in self.chosen:
            self.picked[index] = given
            return self.chosen[*key, given]

        def job(count: int, access=()) -> Work:
            return (MaskJob(count, work.m, access) if sore
                    else VectorJob(count, work.cycles_per_element, access))

        def build(size: int) -> tuple[list[_Step], set[int]]:
            pieces = chunks(units, read, written, size)
            same = {}  # equal steps are one object
            for piece in set(pieces):
                count, load, store = piece
                # The chunk's slot holds its inputs, then its results until they are stored.
                loads = ([_Load(role, Transfer(load, False, slot.buffer), load + store,
                                until_store=True)] if load else [])
                piece_work = job(count, stream_access(load, store, slot.buffer))
                same[piece] = _Step(piece_work, loads, store_role=role,
                                    store=Transfer(store, True, slot.buffer) if store else None,
                                    actions=unit_actions(piece_work, record)
                                    + stream_actions(load, store, slot.buffer))
            return list(map(same.__getitem__, pieces)), {1}

        # The SORE streams whole groups; the vector unit, elements.
        units = work.groups if sore else work.elements
        sizes = chunk_sizes(units, read, written, slot, self.machine, job, self.ahead,
                            f"record {index} ({record.layer})", "group" if sore else "element")
        if given is not None:
            if given not in [size for _, size in sizes]:
                raise self.fixed.error(index, "chunk", f"{given} is not a chunk size of the "
                                       f"ladder that fits the buffer (of {units} units)")
            self.picked[index] = given
            self.chosen[*key, given] = build(given)
            return self.chosen[*key, given]
        steps, periods, self.size[key] = self._best(index, record, sizes, build,
                                                    lambda size: -size)
        self.chosen[key] = steps, periods
        self.picked[index] = self.size[key]
        return steps, periods


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

    def emit(self, index: int, record, steps: list[_Step], waits,
             periods=()) -> tuple[list, int, int]:
        """The op's tasks (handles, in order), bytes read and written. ``periods``: where
        the steps may repeat themselves, for a sink that skips (see
        :class:`~satsim.schedule.skip.Skipper`)."""
        op = self.start(index, record, steps, waits, periods)
        while not op.done:
            op.advance()
        return op.made, op.state["read"], op.state["written"]

    def start(self, index: int, record, steps: list[_Step], waits, periods=()) -> _Op:
        """The op, its first loads emitted; the rest one step per :meth:`_Op.advance`."""
        return _Op(self, index, record, steps, waits, periods)


class _Op:
    """One record's steps, emitted a step at a time (ops on different units interleave)."""

    def __init__(self, emitter: Emitter, index: int, record, steps: list[_Step], waits,
                 periods) -> None:
        self.emitter, self.sink, self.index, self.steps = emitter, emitter.sink, index, steps
        self.waits, self.phase, self.label = list(waits), phase_of(record), record.layer
        self.unit = steps[0].work.unit
        self.made: list = []
        self.held: dict[int, list[tuple[list, bool]]] = {}  # last step -> (hold, until store)
        self.loads: list[list] = []  # [first user, last user + 1, task] of each load in use
        # The output tile being accumulated, bytes read and written so far.
        self.state = {"out": None, "read": 0, "written": 0}
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
        """When its unit is free, and when its inputs were ready (a timing sink's)."""
        if self.ready is None:  # its inputs were emitted before it: their ends are fixed
            self.ready = max((self.sink.end[h] for h in self.waits), default=0)
        return self.sink.free[self.unit], self.ready

    def _new(self, work, deps) -> object:
        deps = list(deps) if self.made else [*deps, *self.waits]
        self.made.append(self.sink.task(work, deps, self.index, self.phase, self.label))
        return self.made[-1]

    def _load(self, s: int) -> None:
        emitter = self.emitter
        for item in self.steps[s].loads:
            task = self._new(item.work, emitter._wait_slot(item.role))
            self.held.setdefault(s + item.span - 1, []).append(
                (emitter._hold(item.role, task, item.footprint), item.until_store))
            self.loads.append([s, s + item.span, task])
            self.state["read"] += item.work.bytes

    def _process(self, s: int) -> None:
        emitter, step, state = self.emitter, self.steps[s], self.state
        if s + emitter.lookahead < len(self.steps):
            self._load(s + emitter.lookahead)
        deps = [task for first, end, task in self.loads if first <= s < end]
        self.loads = [load for load in self.loads if load[1] > s + 1]
        if step.out:  # a GEMM output tile, held (partial sums, then results) until stored
            deps += emitter._wait_slot("outputs")
        compute = self._new(step.work, deps)
        if step.out:
            state["out"] = emitter._hold("outputs", compute, step.out)
        store = None
        if step.store is not None:
            store = self._new(step.store, [compute])
            state["written"] += step.store.bytes
            if state["out"] is not None:
                state["out"][2], state["out"] = store, None
        for hold, until_store in self.held.pop(s, []):
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
        for step in _distinct(self.steps).values():
            used.update(dict.fromkeys(load.role for load in step.loads))
            if step.out:
                used["outputs"] = None
            if step.store is not None:
                used[step.store_role] = None
        return tuple(used)


class _Tasks(Clock):
    """Sink that builds the Program: a handle is a task id. It times every task too (it
    skips nothing), for the choices that depend on time (:func:`_interleave`)."""

    skips = False

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.specs: list[_Spec] = []

    def task(self, work: Work, deps: list, op: int, phase: Phase, label: str) -> int:
        self.specs.append(_Spec(work, set(deps), op=op, phase=phase, label=label))
        return super().task(work, deps, op, phase, label)

    def hold(self, hold: list) -> None:
        super().hold(hold)
        self.specs[hold[3]].holds.append(hold)

    def program(self, roles: dict[str, Slot] | None) -> Program:
        tasks = tuple(Task(i, s.work, tuple(sorted(s.deps)),
                           tuple(Hold(b, n, until) for b, n, until, _ in s.holds),
                           op=s.op, phase=s.phase, label=s.label)
                      for i, s in enumerate(self.specs))
        buffers = capacities(roles)
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

    def records(self, record) -> set[int]:
        """The records it waits for: the writers of what it reads, the writer and the
        readers since of what it writes."""
        records = {self.writer[t] for t in self._reads(record) if t in self.writer}
        for t in record.writes:
            if t in self.writer:
                records.add(self.writer[t])
            records.update(self.readers.get(t, ()))
        return records

    def note(self, index: int, record) -> None:
        for t in self._reads(record):
            self.readers.setdefault(t, []).append(index)
        for t in record.writes:  # a new version: its readers are still to come
            self.writer[t] = index
            self.readers[t] = []
