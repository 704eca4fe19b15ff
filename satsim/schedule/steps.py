"""An op's work as steps: a GEMM tile or a chunk of streamed work, with its loads and store.

A GEMM tile loads its A and B tiles unless already on chip, runs fold runs on the STCE and
stores its C tile; a chunk of streamed vector, update or SORE work loads its inputs, computes
and stores its outputs. Equal steps are one object: the skipper compares steps by identity and
the clock looks up a work's cost by identity.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from satsim.config import HardwareConfig
from satsim.errors import SatsimError
from satsim.machine.program import Access, Compute, MaskJob, Transfer, VectorJob, Work
from satsim.mapping import GemmMapping
from satsim.schedule.actions import bank_actions, gang_access, stce_actions, unit_actions
from satsim.schedule.tiling import FORMAT_BYTES, Sizes, Slot, Tile, gemm_bytes
from satsim.trace.schema import GemmOp, MaskGenOp, UpdateOp, VectorOp
from satsim.types import Phase


@dataclass(slots=True)
class Load:
    role: str
    work: Transfer  # its bytes, into the role's buffer
    footprint: int  # held on chip
    span: int = 1  # steps that use it (a GEMM operand kept across the loop)
    until_store: bool = False  # held until the (last) step's result is stored, not computed
    instance: int = 0  # whose buffer, when the role's buffer is private to the instances


@dataclass(slots=True)
class Lane:
    """Another instance's share of a GEMM step (see :attr:`Step.gang`)."""

    work: Work
    out: int = 0
    store: Transfer | None = None


@dataclass(slots=True)
class Step:
    work: Work
    loads: list[Load] = field(default_factory=list)
    out: int = 0  # a GEMM output tile started here, held until a later (or this) store
    store: Transfer | None = None  # its result's bytes, from the slot of store_role
    store_role: str = "outputs"
    actions: tuple[tuple[tuple[str, str], int], ...] = ()  # ((unit, action), count)
    # On a MAC engine of several instances, the others' shares of the step, instance 1 on:
    # they run beside the first instance's ``work``, after the same loads.
    gang: tuple[Lane, ...] = ()



class Sizing(Protocol):
    """What chooses an op's tiles or chunks with a memory system, timing its candidates (the
    offline scheduler's :class:`satsim.search.tiler.Tiler`)."""

    roles: dict[str, Slot]

    def gemm(self, index: int, record: GemmOp, mapping: GemmMapping,
             op_bytes) -> tuple[list[Step], set[int]]: ...

    def stream(self, index: int, record, work: MaskJob | VectorJob, read: int,
               written: int) -> tuple[list[Step], set[int]]: ...

    def faster_mapping(self, index: int, record: GemmOp, mapping: GemmMapping, policy,
                       sizes: Sizes | None) -> GemmMapping: ...


def distinct(steps: list[Step]) -> dict[int, Step]:
    """Each distinct step by its id: equal steps are one object (see :func:`op_steps`)."""
    return dict(zip(map(id, steps), steps, strict=True))


def step_actions(steps: list[Step]) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], int] = {}
    uses = Counter(map(id, steps))  # each distinct step counted once, times its uses
    for key, step in distinct(steps).items():
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


def op_steps(index: int, record, mapping: GemmMapping | None, hw: HardwareConfig,
           sizes: Sizes | None, tiler: Sizing | None) -> tuple[list[Step], set[int]]:
    """The record's work as steps (no loads or stores on an ideal memory), and the periods
    at which they may repeat themselves (see :class:`~satsim.schedule.skip.Skipper`)."""
    if isinstance(record, GemmOp):
        sparse = mapping.pattern is not None
        if tiler is None:
            return [Step(Compute(part.cycles), actions=stce_actions(part.macs, part.slots, sparse),
                         gang=tuple(Lane(Compute(cycles)) for cycles in part.gang))
                    for part in mapping.parts], set()
        return tiler.gemm(index, record, mapping,
                          gemm_bytes(record, sizes, FORMAT_BYTES[hw.numerics.operand]))
    work = unit_work(index, record, hw, sizes)
    if work is None:
        return [], set()
    if tiler is None:
        return [Step(work, actions=unit_actions(work, record))], set()
    read = sizes.total(record.reads) if sizes is not None else 0
    written = sizes.total(record.writes) if sizes is not None else 0
    return tiler.stream(index, record, work, read, written)


def tile_steps(tiles: list[Tile], sequence: np.ndarray, sparse: bool,
               roles: dict[str, Slot]) -> list[Step]:
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
    # The works are made once here: the clock looks their costs up by identity.
    same = [_tile_step(tiles[sequence[at]], {role: int(spans[role][at]) for role in spans},
                       sparse, roles) for at in first.tolist()]
    return list(map(same.__getitem__, order.tolist()))


def _tile_step(tile: Tile, spans: dict[str, int], sparse: bool,
               roles: dict[str, Slot]) -> Step:
    """One tile's step: on several instances (``tile.gang``), a role's buffer private to
    them holds each instance's share (its own B, a copy); a shared one holds them all, moved
    with the first instance's work (B once: it is the same for all)."""
    lanes = (tile, *tile.gang)
    loads, outs, stores = [], [0] * len(lanes), [0] * len(lanes)
    for role, moved, footprint in (("activations", "load_a", "a_bytes"),
                                   ("weights", "load_b", "b_bytes")):
        slot, span = roles[role], spans[role]
        if slot.private:
            shares = [(i, getattr(t, moved), getattr(t, footprint)) for i, t in enumerate(lanes)]
        elif role == "weights":
            shares = [(0, tile.load_b, tile.b_bytes)]
        else:
            shares = [(0, sum(getattr(t, moved) for t in lanes),
                       sum(getattr(t, footprint) for t in lanes))]
        loads += [Load(role, Transfer(bytes_, False, slot.at(i)), held, span, instance=i)
                  for i, bytes_, held in shares if bytes_]
    out = roles["outputs"]
    for i, t in enumerate(lanes):
        at = i if out.private else 0
        outs[at] += t.out
        stores[at] += t.store_c
    store = [Transfer(n, True, out.at(i)) if n else None for i, n in enumerate(stores)]
    access = gang_access(tile, roles)
    moved = [a for load in loads for a in load.work.access]
    stored = [Access(s.buffer, read=s.bytes) for s in store if s is not None]
    actions = (*stce_actions(sum(t.macs for t in lanes), sum(t.slots for t in lanes), sparse),
               *bank_actions(*moved, *(a for acc in access for a in acc), *stored),
               (("dram", "read_bytes"), sum(load.work.bytes for load in loads)),
               (("dram", "write_bytes"), sum(s.bytes for s in store if s is not None)))
    return Step(Compute(tile.cycles, access[0]), loads, out=outs[0], store=store[0],
                actions=actions,
                gang=tuple(Lane(Compute(t.cycles, access[i]), outs[i], store[i])
                           for i, t in enumerate(lanes) if i))


def unit_work(index: int, record, hw: HardwareConfig, sizes: Sizes | None) -> Work | None:
    """The SORE's or vector unit's work for a record (None: that unit is not timed)."""
    route = {MaskGenOp: "maskgen", VectorOp: "vector"}.get(type(record), "update")
    unit = hw.unit_for(route)
    if unit is None:
        return None
    name = getattr(hw.routes, route)
    if isinstance(record, MaskGenOp) and hw.maskgen is not None:
        return MaskJob(groups=math.ceil(record.elements / record.sparsity.m),
                       m=record.sparsity.m)
    if isinstance(record, MaskGenOp | VectorOp):
        # Masks on a vector unit: one pass over the weights (top-n of each group), priced
        # per weight by the unit's "maskgen" entry.
        op = "maskgen" if isinstance(record, MaskGenOp) else record.op
        cost = unit.cycles_per_element.get(op)
        if cost is None:
            what = ("generates N:M masks" if isinstance(record, MaskGenOp)
                    else f"is vector op {op!r}")
            raise SatsimError(f"record {index} ({record.layer}, {record.phase}) {what}, "
                              "which has no cost in the table", source=f"hardware {hw.name!r}",
                              field=f"units.{name}.cycles_per_element.{op}")
        if isinstance(record, MaskGenOp):
            return VectorJob(record.elements, cost)
        # A reduction (a loss, a bias gradient) works through its input, not its output.
        return VectorJob(max(record.elements, *(sizes.numel(t) for t in record.reads))
                         if sizes is not None and record.reads else record.elements, cost)
    if isinstance(record, UpdateOp):
        table = unit.update_cycles_per_parameter
        # The WUVE updates the master weight, then writes the copy GEMMs read when the
        # operand format differs from the master's.
        steps = [record.optimizer] + (
            ["recast"] if hw.numerics.operand != hw.numerics.master else [])
        missing = [s for s in steps if s not in table]
        if missing:
            raise SatsimError(f"record {index} updates {record.param} with {missing[0]!r}, "
                              "which has no cost in the table", source=f"hardware {hw.name!r}",
                              field=f"units.{name}.update_cycles_per_parameter.{missing[0]}")
        return VectorJob(record.elements, sum(table[s] for s in steps))
    raise TypeError(f"unknown record {record!r}")
