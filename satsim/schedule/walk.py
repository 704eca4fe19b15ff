"""The walk over a trace's records: each op's steps emitted, ops one at a time or side by side.

Without SAT's optimizations every unit takes its work in trace order, masks are generated on
demand (where the trace computes them, right before the layer's FF GEMM), every op reads its
inputs from DRAM and writes its results back (no tensor stays on chip from one op to the
next), and units overlap only where the tensor graph allows (:mod:`satsim.schedule.hazards`).
A record the hardware routes ``untimed`` (``routes.maskgen: untimed``, ...) gets no
task; its dependents wait for what it waited for.

Within an op, work is a sequence of **steps** (:mod:`satsim.schedule.steps`): GEMM tiles
(:mod:`satsim.schedule.tiling`) or chunks of streamed vector / update / SORE work
(:mod:`satsim.schedule.chunks`), their sizes the fastest alone among those of
buffer-independent ladders that fit (:class:`satsim.search.tiler.Tiler`), so that a bigger
buffer never slows a run; the emitter (:mod:`satsim.schedule.emitter`) runs loads ahead and
reuses buffer slots. On an ideal memory there are no loads or stores, and a GEMM
is one task per part of its mapping (the closed forms, exactly). With a memory system all
transfers go through one DMA queue in Program order. One op at a time, ops that use DRAM
follow each other and overlap only within their own pipeline; with ``interleave`` (SAT's
interleave mapping beyond one op) a GEMM and a stream op run side by side wherever the graph
allows, their steps interleaved on the DMA (:func:`_interleave`). With ``pregenerate`` the
SORE runs ahead on a lane of its own: each iteration is simulated from an idle machine (every
iteration of training repeats the same static schedule), so every layer's updated weight
exists when it starts, and the SORE generates the iteration's sparse weights from then on,
in trace order, while the other units work, instead of when the GEMMs reach them.

The emitter (:mod:`satsim.schedule.emitter`) hands each task to a sink: a
:class:`satsim.schedule.build.Recorder` builds the Program (for the engines, the reference and
the timeline), :mod:`satsim.search.evaluate` times it on the fly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.machine.mac import mac_engine
from satsim.mapping import GemmMapping, map_gemm
from satsim.schedule.choices import GemmChoice, Schedule
from satsim.schedule.emitter import Emitter, RunningOp
from satsim.schedule.hazards import dependencies
from satsim.schedule.skip import Together
from satsim.schedule.steps import Sizing, op_steps, step_actions
from satsim.schedule.tiling import Sizes
from satsim.trace.schema import GemmOp, MaskGenOp, Trace
from satsim.types import Stationarity


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


def walk(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy, emitter: Emitter,
         order: Sequence[int] | None = None, tiler: Sizing | None = None,
         schedule: Schedule | None = None) -> dict[int, OpPlan]:
    """Emit every record's steps, each op waiting for what it depends on; the plans in the
    order the ops were completed.

    Ops go in ``order`` on each unit. With a memory system, a tensor graph and
    ``interleave``, two ops run side by side, a GEMM on the array and a stream (vector,
    update or mask generation) on its unit, whenever the graph allows: their steps go to the
    DMA interleaved, the step of the op whose unit is free earlier first (see
    :func:`_interleave`). Otherwise one op at a time, each whole. ``order``: the records'
    issue order (default: the trace's; see :mod:`satsim.search.order`); ``tiler``: one
    that chose tiles for this hardware and policy before (its choices are reused);
    ``schedule``: the GEMMs' stationarities it fixes (the tiler, made with it, the sizes)."""
    sizes = Sizes(trace, hw) if trace.has_graph else None
    assert tiler is not None or not emitter.roles, "a memory system needs a tiler"

    def _stationarity(index: int):
        """The schedule's stationarity for a GEMM, if it fixes one."""
        choice = schedule.ops.get(index) if schedule is not None else None
        if not isinstance(choice, GemmChoice):
            return None
        if tiler is None and choice.parts:
            raise schedule.error(index, "parts", "ideal memory has no tiles")
        runs = mac_engine(hw.engine).stationarities
        if choice.stationarity is not None and choice.stationarity not in runs:
            raise schedule.error(index, "stationarity", f"the {hw.engine.kind} engine runs "
                                 + " or ".join(s.value for s in runs) +
                                 (" (is: only in SCALE-Sim's conventions)"
                                  if choice.stationarity is Stationarity.IS else ""))
        return choice.stationarity
    order = range(len(trace.records)) if order is None else order
    need = dependencies(trace, order)
    ops: dict[int, OpPlan] = {}
    done: dict[int, frozenset] = {}  # record -> handles whose end completes it
    mappings: dict[int, GemmMapping | None] = {}

    def begin(index: int) -> RunningOp | None:
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
        steps, periods = op_steps(index, record, mapping, hw, sizes, tiler)
        if not steps:
            ops[index], done[index] = OpPlan((), mapping=mapping), waits
            return None
        return emitter.start(index, record, steps, waits, periods)

    counted: dict[int, tuple[list, dict]] = {}  # ops like one before share its steps

    def finish(op: RunningOp) -> None:
        if id(op.steps) not in counted:
            counted[id(op.steps)] = op.steps, step_actions(op.steps)
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


def _lanes(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy, tiler: Sizing | None):
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
    active: dict[str, RunningOp] = {}
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
