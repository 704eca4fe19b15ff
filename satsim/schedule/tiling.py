"""What the machine moves and holds: tensor bytes in the hardware's formats and GEMM tiles
that fit the buffers (the streamed work's chunks: :mod:`satsim.schedule.chunks`).

* **Formats.** ``numerics`` decides the bytes: master weights and optimizer state in the
  master format, every other floating tensor (activations, gradients, compressed values,
  16-bit weight copies) in the operand format; index metadata and integer tensors as recorded.
* **Tiles.** A GEMM part ``C[m, n] = A[m, k] @ B[k, n]`` (weight as B) is cut into tiles of
  ``mt x nt`` outputs over ``kt`` of the reduction (all of it, else whole-group slices while
  the output tile holds partial sums). Over the whole reduction the loop order keeps one
  operand on chip across the other's tiles: N-outer (a B tile stays while A tiles stream) or
  M-outer, the one moving fewer bytes (ties: N-outer). Operands move in proportion to the
  part of the tensor a tile covers: a convolution's A is its feature map, not the im2col
  matrix (implicit GEMM).
* **Slots.** A buffer's capacity is shared equally by the roles it holds; a double-buffered
  role has two slots (load the next while computing the current), else one. A tile's operand
  and a chunk must fit one slot of its role.
* **Sizes: bigger buffers are never slower.** The biggest tiles that fit are not the fastest
  (a bigger first tile delays the first compute, a bigger last one the end; small chunks
  overlap their loads, computes and stores better), so taking them made a run slower with a
  bigger buffer. Sizes come instead from ladders that do not depend on the buffers:
  ``mt`` = R, 2R, 4R ... and M, ``nt`` = C, 2C, 4C ... and N, ``kt`` = K then halves of it
  in whole groups (:func:`tile_sizes`); chunks of 1, 2, 4 ... units and the whole stream,
  no more than ``max(MIN_CHUNKS, bytes / GRANULE)`` of them (:func:`chunk_sizes`). Of the
  sizes that fit, the schedule takes the one whose steps run fastest alone, timed exactly
  (ties: the bigger). A bigger buffer keeps every size that fitted and may add some, so the
  op alone never gets slower, and ops that use DRAM follow each other on its one queue, so
  the run does not either (tested on shipped traces and random small ones; an op's entry can
  still shift a little, so an op may end later while the run ends earlier). Lower bounds of
  each size's cycles (``_bound``, the chunk bounds) let most sizes go untimed. Outside the
  rule: a stream whose slot cannot hold a chunk of the ladder's smallest size takes the most
  units that fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from satsim.config.hardware import HardwareConfig
from satsim.errors import SatsimError
from satsim.machine.costs import Machine
from satsim.machine.mac import MacEngine, MacRun, mac_engine, partition
from satsim.mapping import GemmMapping
from satsim.mapping.gemm import GemmPart
from satsim.trace.schema import GemmOp, Role, Trace

FORMAT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1,
                "int32": 4}
_FLOATS = ("float", "bfloat")
# The most steps (a GEMM part's tiles, a stream's chunks) one op may take, so that a run takes
# seconds: tile and chunk sizes beyond it are left out; an op that needs more is an error.
MAX_STEPS = 2**20


@dataclass(frozen=True)
class Slot:
    """Where one role's data sits: the Program buffer's name, bytes per slot, slots; with a
    buffer private to the instances of a unit, one Program buffer per instance
    (``buffers``)."""

    buffer: str
    bytes: int
    slots: int
    buffers: tuple[str, ...] = ()  # per instance, when private; else just ``buffer``

    @property
    def private(self) -> bool:
        return len(self.buffers) > 1

    def at(self, instance: int) -> str:
        """The Program buffer of ``instance`` (the shared one's for every instance)."""
        return self.buffers[instance] if instance and self.private else self.buffer


def slot_key(role: str, instance: int) -> str:
    """The emitter's name for a role's slots: ``outputs``, or ``outputs#1`` for another
    instance's own, in a buffer private to the instances."""
    return f"{role}#{instance}" if instance else role


def slots(hw: HardwareConfig) -> dict[str, Slot]:
    """Per role (activations, weights, outputs, vector, masks): its share of its buffer."""
    found = {}
    for role, (labels, buffer) in hw.shares().items():
        count = 2 if buffer.double_buffer else 1
        found[role] = Slot(labels[0], buffer.kib * 1024 // len(buffer.holds) // count, count,
                           labels)
    return found


def capacities(roles: dict[str, Slot] | None) -> dict[str, int]:
    """Bytes of every Program buffer (a role's share of a shared buffer); none on ideal
    memory."""
    return {name: s.bytes * s.slots for s in (roles or {}).values()
            for name in (s.buffers or (s.buffer,))}


class Sizes:
    """Bytes of every tensor of a trace in the hardware's formats."""

    def __init__(self, trace: Trace, hw: HardwareConfig):
        self.operand = FORMAT_BYTES[hw.numerics.operand]
        self.master = FORMAT_BYTES[hw.numerics.master]
        self.info = {t.id: t for t in trace.tensors}

    def tensor(self, tid: int) -> int:
        t = self.info[tid]
        base = self.info[t.view_of] if t.view_of is not None else t
        if not t.dtype.startswith(_FLOATS):
            return t.bytes  # integer data, index metadata, masks: as recorded
        master = base.role is Role.OPTIMIZER_STATE or (
            base.role is Role.PARAMETER and base.of is None)
        return t.numel * (self.master if master else self.operand)

    def total(self, ids) -> int:
        return sum(self.tensor(t) for t in ids)

    def numel(self, tid: int) -> int:
        return self.info[tid].numel


@dataclass(frozen=True)
class GemmBytes:
    """Bytes of a GEMM op's operands as the array sees them (weight as B)."""

    a: int
    b: int
    c: int


def gemm_bytes(op: GemmOp, sizes: Sizes | None, operand_bytes: int) -> GemmBytes:
    """From the op's tensors (a graph), else from its dimensions in the operand format."""
    if sizes is not None and op.a and op.b and op.c:
        a, b = sizes.total(op.a), sizes.total(op.b) + sizes.total(op.bias)
        if op.weight == "A":
            a, b = b, a
        return GemmBytes(a, b, sizes.total(op.c))
    m, n = (op.N, op.M) if op.weight == "A" else (op.M, op.N)
    kept = op.K if op.sparsity is None else op.sparsity.kept(op.K)
    index = 0 if op.sparsity is None else math.ceil(
        kept * n * max(1, math.ceil(math.log2(op.sparsity.m))) / 8)
    return GemmBytes(op.batch * m * op.K * operand_bytes,
                     op.batch * (kept * n * operand_bytes + index),
                     op.batch * m * n * operand_bytes)


@dataclass(frozen=True)
class Tile:
    """One step of a GEMM part on the array: the bytes it loads (0: that operand's tile is
    still on chip from the previous step), the footprints it needs, the output tile it starts
    (``out``: bytes held until stored) and stores, its fold-run cycles and executed MACs."""

    load_a: int
    load_b: int
    a_bytes: int
    b_bytes: int
    out: int
    store_c: int
    cycles: int
    macs: int
    slots: int  # PE multiply-accumulate slots its folds stream through (R x C per cycle)
    a_reads: int  # times the array reads its A tile (once per column of folds)
    b_reads: int  # times it reads its B tile (OS: once per row of folds; WS: once)
    psum: int  # partial-sum bytes it reads back and rewrites (a slice after the first)
    # On a MAC engine of several instances this is the first instance's share of the tile
    # (the most output rows, :func:`satsim.machine.mac.partition`); the others' follow.
    gang: tuple[Tile, ...] = ()


def split(total: int, units: list[int]) -> list[int]:
    """``total`` bytes in proportion to ``units``, in integers that sum to ``total``: each
    its share rounded down, the remainder one byte each to the shares with the largest
    fractions (ties: the later). Equal units get equal bytes except at most the last few, so
    identical tiles stay identical; no share exceeds its exact value rounded up."""
    values = sorted(set(units))
    at = {u: i for i, u in enumerate(values)}
    codes = np.fromiter(map(at.__getitem__, units), dtype=np.int64, count=len(units))
    return shares(total, values, codes).tolist()


def shares(total: int, values: list[int], codes: np.ndarray) -> np.ndarray:
    """:func:`split` of ``total`` over the units ``values[codes]`` (``values`` distinct),
    worked out per distinct unit: a big GEMM has millions of tiles of a few sizes."""
    counts = np.bincount(codes, minlength=len(values)).tolist()
    whole = sum(u * c for u, c in zip(values, counts, strict=True))
    down = [total * u // whole for u in values]
    # Python integers where int64 could overflow (sizes up to 2**40 multiply).
    found = np.array(down, dtype=np.int64 if max(down, default=0) < 2**62 else object)[codes]
    left = total - sum(d * c for d, c in zip(down, counts, strict=True))
    fraction: dict[int, list[int]] = {}  # fraction -> its units' codes
    for code, u in enumerate(values):
        fraction.setdefault(total * u % whole, []).append(code)
    for f in sorted(fraction, reverse=True):  # the largest fractions first, then the later
        if left <= 0:
            break
        indices = np.flatnonzero(np.isin(codes, fraction[f]))
        found[indices[-left:]] += 1
        left -= len(indices)
    return found


def part_bytes(op_bytes: GemmBytes, mapping: GemmMapping) -> list[GemmBytes]:
    """A GEMM op's bytes shared by its parts in proportion to their MACs."""
    weights = [p.shape.macs for p in mapping.parts]
    shares = zip(*(split(x, weights) for x in (op_bytes.a, op_bytes.b, op_bytes.c)),
                 strict=True)
    return [GemmBytes(a, b, c) for a, b, c in shares]


def ladder(size: int, unit: int) -> list[int]:
    """``unit``, twice that, four times ... capped at ``size`` (which ends the ladder)."""
    found, step = [], unit
    while step < size:
        found.append(step)
        step *= 2
    return [*found, size]


def _k_ladder(k: int, group: int) -> list[int]:
    """The whole reduction, then halves of it in whole groups, down to one group."""
    found = [k]
    while found[-1] > group:
        found.append(max(group, (found[-1] // 2) // group * group))
    return found


def _classes(size: int, tile: int) -> list[tuple[int, int]]:
    """``(extent, count)`` of the tiles cutting ``size`` into ``tile``: full ones, then the
    remainder."""
    full, rest = divmod(size, tile)
    return [(tile, full)] * bool(full) + [(rest, 1)] * bool(rest)


def _run(h: int, w: int, d: int, mapping: GemmMapping, engine: MacEngine,
         interleave: bool) -> MacRun:
    """An ``h x d`` by ``d x w`` tile's run on the MAC engine."""
    return engine.run(h, w, d, 1, mapping.pattern, mapping.stationarity, interleave)


def _n_outer(total: GemmBytes, rows_of_tiles: int, cols_of_tiles: int, slices: int) -> bool:
    """Whole reduction: keep on chip the operand that would move more (N-outer keeps B,
    ties too); a sliced one streams both under an output tile that stays: N-outer."""
    return slices > 1 or (total.a * cols_of_tiles + total.b
                          <= total.a + total.b * rows_of_tiles)


def tile_sizes(op: GemmOp, part: GemmPart, total: GemmBytes, mapping: GemmMapping,
               hw: HardwareConfig, roles: dict[str, Slot], interleave: bool, index: int,
               machine: Machine, ahead: int, bound: bool = True,
               loops: bool = False) -> list[tuple[float, tuple]]:
    """Every tile size ``(mt, kt, nt)`` of the ladders that fits the slots, each with a lower
    bound of the part's cycles run alone (``ahead``: steps loads run ahead, 0 or 1; with
    ``bound`` off, 0); the error naming the buffer if none does. With ``loops``, each is
    ``(mt, kt, nt, n_outer)``, both loop orders for a whole reduction (else the rule's)."""
    engine, count = mac_engine(hw.engine), hw.engine.count
    rows, cols = engine.rows, engine.cols
    m, k, n, batch = part.shape.m, part.shape.k, part.shape.n, part.shape.batch
    group = mapping.pattern.m if mapping.pattern is not None else 1
    psum = FORMAT_BYTES[hw.numerics.accumulate]
    a_slot, b_slot, c_slot = (roles[r].bytes for r in ("activations", "weights", "outputs"))

    step = engine.row_step(mapping.stationarity)

    def first(h: int) -> int:
        """Output rows of a tile of ``h`` the first instance takes (it has the most)."""
        return partition(h, step, count)[0]

    # A private buffer holds one instance's rows of A or C; a shared one the whole tile's.
    a_rows, c_rows = (first if roles[r].private else (lambda h: h)
                      for r in ("activations", "outputs"))
    bandwidth = machine.dram_channels * machine.dram_bytes_per_cycle
    latency = machine.dram_latency_cycles
    single = (roles["activations"].slots == 1, roles["weights"].slots == 1)
    known: dict[tuple[int, int, int], int] = {}  # sizes share their tiles' extents

    def cycles(h: int, w: int, d: int) -> int:
        if (h, w, d) not in known:
            known[h, w, d] = _run(first(h), w, d, mapping, engine, interleave).cycles
        return known[h, w, d]

    found, crowded = [], False
    for kt in _k_ladder(k, group):
        # An output element's bytes while the tile is accumulated: the result's share of C,
        # or an fp32 partial sum over a sliced reduction (as a fraction: num / den).
        acc_num, acc_den = (total.c, batch * m * n) if kt == k else (psum, 1)
        for mt in ladder(m, rows * count):  # a tile's share of an operand (rounded up) fits
            if total.a * a_rows(mt) * kt > a_slot * batch * m * k:
                break
            for nt in ladder(n, cols):
                if (total.b * kt * nt > b_slot * batch * k * n
                        or acc_num * c_rows(mt) * nt > c_slot * acc_den):
                    break
                if batch * -(-m // mt) * -(-k // kt) * -(-n // nt) > MAX_STEPS:
                    crowded = True
                    continue
                rule = n_outer_rule(part, total, (mt, kt, nt))
                for n_outer in ((rule, not rule) if loops and kt == k else (rule,)):
                    found.append((_bound(m, k, n, batch, total, (mt, kt, nt), cycles,
                                         bandwidth, latency, ahead, single, n_outer)
                                  if bound else 0,
                                  (mt, kt, nt, n_outer) if loops else (mt, kt, nt)))
    if found:
        return found
    if crowded:
        raise SatsimError(f"every tile size that fits the buffers cuts this GEMM (M {m:,}, "
                          f"K {k:,}, N {n:,}, batch {batch:,}) into more than {MAX_STEPS:,} "
                          "tiles, satsim's limit on one op's steps (a run takes seconds): "
                          "give it smaller dimensions or bigger buffers",
                          source=f"record {index} ({op.layer}, {op.phase})", field="M, K, N")
    kt = _k_ladder(k, group)[-1]
    need = {"weights": total.b * kt * min(cols, n) / (batch * k * n),
            "activations": total.a * kt * min(rows, m) / (batch * m * k),
            "outputs": (total.c / (batch * m * n) if kt == k else psum)
            * min(rows, m) * min(cols, n)}
    role = next(r for r, b in need.items() if b > roles[r].bytes)
    slot = roles[role]
    raise SatsimError(f"record {index} ({op.layer}, {op.phase}): its smallest {role} tile "
                      f"({math.ceil(need[role])} bytes: one step, {rows}x{cols} outputs, "
                      f"of the {engine.describe()} engine over {kt} of K) does not fit a "
                      f"{slot.bytes}-byte slot of buffer {slot.buffer}",
                      field=f"memory.buffers.{slot.buffer.split(':')[0]}.kib")


def _bound(m: int, k: int, n: int, batch: int, total: GemmBytes, size: tuple[int, int, int],
           cycles, bandwidth: int, latency: int, ahead: int,
           single: tuple[bool, bool], n_outer: bool) -> float:
    """A lower bound of the cycles of a part's tiles run alone: the DMA moves every byte,
    and the array computes every tile between its first loads and its last store. When
    loads do not run ahead, the DMA also idles while a tile that stores computes (its loads
    come just before its store), or while every tile computes if each loads an operand
    with a single slot (the next load waits for that slot). (A transfer of ``b`` bytes takes
    at least ``b / bandwidth`` cycles; a tile's share of an operand is its exact share
    rounded, so at least that minus one byte.) ``cycles(h, w, d)``: a tile's on the array;
    ``single``: A's and B's one slot; ``n_outer``: the loop order."""
    mt, kt, nt = size
    hs, ds, ws = _classes(m, mt), _classes(k, kt), _classes(n, nt)
    rows_of, cols_of, slices = -(-m // mt), -(-n // nt), -(-k // kt)
    moved = (total.a * (cols_of if n_outer else 1) + total.b * (rows_of if slices > 1 or
                                                               not n_outer else 1) + total.c)
    compute = batch * sum(ch * cw * cd * cycles(h, w, d)
                          for h, ch in hs for w, cw in ws for d, cd in ds)
    stored = 0 if ahead else batch * sum(  # the tiles of an output tile's last slice
        ch * cw * cycles(h, w, ds[-1][0])
        for h, ch in hs for w, cw in ws)
    every_a, every_b = slices > 1 or n_outer, slices > 1 or not n_outer  # load each tile
    if not ahead and (every_a and single[0] or every_b and single[1]):
        stored = compute
    first = (total.a * hs[0][0] * ds[0][0] / (batch * m * k)
             + total.b * ds[0][0] * ws[0][0] / (batch * k * n) - 2)
    last = total.c * hs[-1][0] * ws[-1][0] / (batch * m * n) - 1
    return max(latency + moved / bandwidth + stored,
               latency + max(0, first) / bandwidth + compute + max(0, last) / bandwidth)


def n_outer_rule(part: GemmPart, total: GemmBytes, size: tuple[int, int, int]) -> bool:
    """The loop order a part's tiles of ``size`` take unless told: N-outer, or M-outer
    where that moves fewer bytes over a whole reduction (see :func:`_n_outer`)."""
    (mt, kt, nt), shape = size, part.shape
    return _n_outer(total, -(-shape.m // mt), -(-shape.n // nt), -(-shape.k // kt))


def _cuts(size: int, tile: int) -> tuple[list[int], np.ndarray]:
    """The extents cutting ``size`` into tiles of ``tile`` (full ones, then the rest): the
    distinct extents, and each tile's index among them."""
    full, rest = divmod(size, tile)
    codes = np.zeros(full + bool(rest), dtype=np.int64)
    codes[full:] = bool(full)
    return [tile] * bool(full) + [rest] * bool(rest), codes


def _tile_shares(total: int, batch: int, outer: tuple[list[int], np.ndarray],
                 inner: tuple[list[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split` of ``total`` over the tiles of an operand, ``batch`` times the tiles of
    two dimensions (``_cuts``), the second inner, in proportion to their areas: the distinct
    shares and each tile's index among them."""
    (outer_values, outer_codes), (inner_values, inner_codes) = outer, inner
    areas = [x * y for x in outer_values for y in inner_values]
    values = sorted(set(areas))
    pair = np.array([values.index(a) for a in areas], dtype=np.int64)
    codes = pair[outer_codes[:, None] * len(inner_values) + inner_codes[None, :]].ravel()
    return np.unique(shares(total, values, np.tile(codes, batch)), return_inverse=True)


def part_tiles(part: GemmPart, total: GemmBytes, mapping: GemmMapping, hw: HardwareConfig,
               interleave: bool, size: tuple[int, int, int],
               n_outer: bool | None = None) -> tuple[list[Tile], np.ndarray, set[int]]:
    """A part's tiles of ``size`` in execution order, N-outer or M-outer (``n_outer``;
    default :func:`n_outer_rule`; a sliced reduction runs N-outer only); their loads and
    stores add up to what the loop order needs, their MACs to the part's. Returned as the
    distinct tiles and, per step, the index of its tile among them (a big GEMM has millions
    of tiles of a few kinds: the sequence is worked out with arrays, not tile by tile).
    Also the periods of the loop nest (steps per K slice, per output tile, per row or column
    of tiles, per batch instance): where the sequence can repeat itself, for the one-pass
    clock to skip."""
    pattern, engine, count = mapping.pattern, mac_engine(hw.engine), hw.engine.count
    m, k, n, batch = part.shape.m, part.shape.k, part.shape.n, part.shape.batch
    mt, kt, nt = size
    psum = FORMAT_BYTES[hw.numerics.accumulate]
    ms, ks, ns = _cuts(m, mt), _cuts(k, kt), _cuts(n, nt)
    rows_of, slices, cols_of = len(ms[1]), len(ks[1]), len(ns[1])
    a_values, a_code = _tile_shares(total.a, batch, ms, ks)
    b_values, b_code = _tile_shares(total.b, batch, ks, ns)
    c_values, c_code = _tile_shares(total.c, batch, ms, ns)
    # Whole reduction: keep one operand across the other's tiles. Sliced reduction: the
    # output tile stays while its slices stream in (N-outer, then M, then K).
    if n_outer is None:
        n_outer = _n_outer(total, rows_of, cols_of, slices)
    assert n_outer or slices == 1, "a sliced reduction keeps its output tile: N-outer"
    whole = slices == 1
    # Each step's batch instance g, place in the loop order and K slice q; the order's
    # output tile (i, j), and whether it keeps an operand loaded by the step before.
    tiles_per = rows_of * cols_of
    i_of = np.arange(tiles_per) % rows_of if n_outer else np.arange(tiles_per) // cols_of
    j_of = np.arange(tiles_per) // rows_of if n_outer else np.arange(tiles_per) % cols_of
    g = np.repeat(np.arange(batch), tiles_per * slices)
    order = np.tile(np.repeat(np.arange(tiles_per), slices), batch)
    q = np.tile(np.arange(slices), batch * tiles_per)
    i, j = i_of[order], j_of[order]
    stays = (order % (rows_of if n_outer else cols_of) != 0) & whole
    # A tile is its extents, its shares of A, B and C, first and last slice, and which
    # operand it keeps: per step, each as an index among that field's values, mixed into one.
    (h_values, h_code), (w_values, w_code), (d_values, d_code) = ms, ns, ks
    flag = (False, True)
    fields = ((h_values, h_code[i]), (w_values, w_code[j]), (d_values, d_code[q]),
              (a_values.tolist(), a_code[(g * rows_of + i) * slices + q]),
              (b_values.tolist(), b_code[(g * slices + q) * cols_of + j]),
              (c_values.tolist(), c_code[(g * rows_of + i) * cols_of + j]),
              (flag, q == 0), (flag, q == slices - 1), (flag, stays & (not n_outer)),
              (flag, stays & n_outer))
    key = np.zeros(len(q), dtype=np.int64)
    for values, code in fields:
        key = key * len(values) + code
    _, first, sequence = np.unique(key, return_index=True, return_inverse=True)
    tiles = []
    for at in first.tolist():
        h, w, d, a, b, c, is_first, is_last, stays_a, stays_b = (
            values[int(code[at])] for values, code in fields)
        kept = d if pattern is None else pattern.kept(d)
        lanes = []
        shares = partition(h, engine.row_step(mapping.stationarity), count)  # per instance
        a_parts, c_parts = (split(a, shares), split(c, shares)) if count > 1 else ([a], [c])
        for rows, a_i, c_i in zip(shares, a_parts, c_parts, strict=True):
            run = _run(rows, w, d, mapping, engine, interleave)
            a_reads, b_reads = engine.reads(rows, w, mapping.stationarity)
            lanes.append(Tile(
                load_a=0 if stays_a else a_i, load_b=0 if stays_b else b, a_bytes=a_i,
                b_bytes=b, out=(c_i if whole else math.ceil(psum * rows * w)) if is_first
                else 0, store_c=c_i if is_last else 0, cycles=run.cycles,
                macs=rows * w * kept, slots=run.slots, a_reads=a_reads, b_reads=b_reads,
                psum=0 if whole or is_first else math.ceil(psum * rows * w)))
        tiles.append(replace(lanes[0], gang=tuple(lanes[1:])))
    inner = rows_of if n_outer else cols_of  # tiles per column (N-outer) or row
    return tiles, sequence, {1, slices, slices * inner, slices * tiles_per}
