"""The offline scheduler's tile and chunk choice: each op's sizes, the fastest alone.

With a memory system every GEMM part is cut into tiles and every stream into chunks; the
candidate sizes come from ladders that do not depend on the buffers
(:mod:`satsim.schedule.tiling`), and of those that fit, the one whose steps run fastest alone
(on an idle machine, timed exactly by the one-pass clock) is kept, so that a bigger buffer
never slows an op alone. A schedule file's choices are checked against the same ladders.
"""

from __future__ import annotations

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.machine.costs import Machine
from satsim.machine.mac import mac_engine
from satsim.machine.program import MaskJob, Transfer, VectorJob, Work
from satsim.mapping import GemmMapping, map_gemm
from satsim.schedule.actions import stream_access, stream_actions, unit_actions
from satsim.schedule.choices import GemmChoice, Schedule
from satsim.schedule.chunks import chunk_sizes, chunks
from satsim.schedule.emitter import Emitter
from satsim.schedule.steps import Load, Step, tile_steps
from satsim.schedule.tiling import (
    FORMAT_BYTES,
    GemmBytes,
    Sizes,
    Slot,
    gemm_bytes,
    n_outer_rule,
    part_bytes,
    part_tiles,
    tile_sizes,
)
from satsim.timing.clock import Clock
from satsim.trace.schema import GemmOp, MaskGenOp
from satsim.types import Stationarity


def tiler_for(hw: HardwareConfig, policy: DataflowPolicy,
              schedule: Schedule | None = None) -> Tiler | None:
    """The tiler of ``hw`` under ``policy`` (with the choices ``schedule`` fixes); None on
    an ideal memory, which has no tiles."""
    roles = Emitter(hw, None).roles
    return Tiler(hw, policy, roles, schedule) if roles else None


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
        self.chosen: dict[tuple, tuple[list[Step], set[int]]] = {}
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

    def _alone(self, index: int, record, steps: list[Step], periods: set[int]) -> int:
        """Cycles of ``steps`` on an idle machine."""
        clock = Clock(self.machine)
        Emitter(self.hw, clock).emit(index, record, steps, (), periods)
        return max(clock.end)

    def _best(self, index: int, record, sizes: list[tuple[float, object]], build,
              bigger) -> tuple[list[Step], set[int]]:
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
        if other not in mac_engine(self.hw.engine).stationarities:  # an MMA unit: OS only
            return mapping
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
             op_bytes: GemmBytes) -> tuple[list[Step], set[int]]:
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
                return tile_steps(tiles, sequence, sparse, self.roles), loops

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
               written: int) -> tuple[list[Step], set[int]]:
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

        def build(size: int) -> tuple[list[Step], set[int]]:
            pieces = chunks(units, read, written, size)
            same = {}  # equal steps are one object
            for piece in set(pieces):
                count, load, store = piece
                # The chunk's slot holds its inputs, then its results until they are stored.
                loads = ([Load(role, Transfer(load, False, slot.buffer), load + store,
                                until_store=True)] if load else [])
                piece_work = job(count, stream_access(load, store, slot.buffer))
                same[piece] = Step(piece_work, loads, store_role=role,
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
