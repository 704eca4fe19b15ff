"""What the machine moves and holds: tensor bytes in the hardware's formats, GEMM tiles that
fit the buffers, and chunks of the streamed (vector, update, SORE) work.

* **Formats.** ``numerics`` decides the bytes: master weights and optimizer state in the
  master format, every other floating tensor (activations, gradients, compressed values,
  16-bit weight copies) in the operand format; index metadata and integer tensors as recorded.
* **Tiles.** A GEMM part ``C[m, n] = A[m, k] @ B[k, n]`` (weight as B) is cut into tiles of
  ``mt x nt`` outputs over the whole reduction. The loop order keeps one operand on chip
  across the other's tiles: N-outer (a B tile stays while A tiles stream) or M-outer, the one
  moving fewer bytes (ties: N-outer). Operands move in proportion to the part of the tensor a
  tile covers: a convolution's A is its feature map, not the im2col matrix (implicit GEMM).
* **Slots.** A buffer's capacity is shared equally by the roles it holds; a double-buffered
  role has two slots (load the next while computing the current), else one. A tile's operand
  must fit one slot of its role.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import compress

from satsim.config.hardware import HardwareConfig, MemoryConfig
from satsim.errors import SatsimError
from satsim.mapping import GemmMapping
from satsim.mapping.gemm import GemmPart
from satsim.timing.stce import FoldRun, run_cycles
from satsim.trace.schema import GemmOp, Role, Trace
from satsim.types import Stationarity

FORMAT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1,
                "int32": 4}
_FLOATS = ("float", "bfloat")


@dataclass(frozen=True)
class Slot:
    """Where one role's data sits: the Program buffer's name, bytes per slot, slots."""

    buffer: str
    bytes: int
    slots: int


def slots(memory: MemoryConfig) -> dict[str, Slot]:
    """Per role (activations, weights, outputs, vector): its share of its buffer."""
    found = {}
    for name, buffer in memory.buffers.items():
        share = buffer.kib * 1024 // len(buffer.holds)
        count = 2 if buffer.double_buffer else 1
        for role in buffer.holds:
            label = name if len(buffer.holds) == 1 else f"{name}:{role}"
            found[role] = Slot(label, share // count, count)
    return found


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


def split(total: int, units: list[int]) -> list[int]:
    """``total`` bytes in proportion to ``units``, in integers that sum to ``total``: each
    its share rounded down, the remainder one byte each to the shares with the largest
    fractions (ties: the later). Equal units get equal bytes except at most the last few, so
    identical tiles stay identical; no share exceeds its exact value rounded up."""
    whole = sum(units)
    # Tiles and chunks come in a few sizes: work per distinct unit, not per share.
    distinct = set(units)
    shares = list(map({u: total * u // whole for u in distinct}.__getitem__, units))
    left = total - sum(shares)
    fraction: dict[int, list[int]] = {}  # fraction -> its units
    for u in distinct:
        fraction.setdefault(total * u % whole, []).append(u)
    for f in sorted(fraction, reverse=True):  # the largest fractions first, then the later
        if left <= 0:
            break
        have = set(fraction[f])
        indices = list(compress(range(len(units)), map(have.__contains__, units)))
        for i in indices[-left:]:
            shares[i] += 1
        left -= len(indices)
    return shares


def _fit(slot: int, per_unit: float, granule: int, limit: int) -> int:
    """Most units (a multiple of ``granule`` when at least one fits) within ``slot`` bytes."""
    most = int(slot // per_unit) if per_unit else limit
    if most >= granule:
        most -= most % granule
    return min(limit, most)


def gemm_tiles(op: GemmOp, op_bytes: GemmBytes, mapping: GemmMapping, hw: HardwareConfig,
               roles: dict[str, Slot], interleave: bool,
               index: int) -> tuple[list[Tile], set[int]]:
    """The steps of every part of ``op``, in execution order; their loads and stores add up
    to what the loop order needs, their MACs to the op's. Also the periods of the loop nest
    (steps per output tile, per row or column of tiles, per batch instance): where the
    sequence can repeat itself, for the one-pass clock to skip."""
    weights = [p.shape.macs for p in mapping.parts]
    shares = zip(*(split(x, weights) for x in (op_bytes.a, op_bytes.b, op_bytes.c)),
                 strict=True)
    tiles: list[Tile] = []
    periods = {1}
    for part, (a, b, c) in zip(mapping.parts, shares, strict=True):
        more, loops = _part_tiles(op, part, GemmBytes(a, b, c), mapping, hw, roles,
                                  interleave, index)
        tiles += more
        periods |= loops
    return tiles, periods


def _sizes(m: int, k: int, n: int, group: int, a_el: float, b_el: float, c_el: float,
           psum: float, hw: HardwareConfig, roles: dict[str, Slot]) -> tuple[int, int, int]:
    """Tile sizes ``(mt, kt, nt)``: the whole reduction when an array-sized tile of it fits,
    else the longest whole-group slice of it that does (the output tile then holds partial
    sums until the last slice)."""
    rows, cols = hw.array.rows, hw.array.cols
    kt = k
    while True:
        acc = c_el if kt == k else psum
        # As many columns as the weights slot holds, leaving room for R rows of outputs.
        nt = min(_fit(roles["weights"].bytes, b_el * kt, cols, n),
                 _fit(roles["outputs"].bytes, acc * min(rows, m), cols, n))
        mt = min(_fit(roles["activations"].bytes, a_el * kt, rows, m),
                 _fit(roles["outputs"].bytes, acc * max(nt, 1), rows, m))
        if (nt >= min(cols, n) and mt >= min(rows, m)) or kt <= group:
            return mt, kt, nt
        kt = max(group, (kt // 2) // group * group)


def _part_tiles(op: GemmOp, part: GemmPart, total: GemmBytes, mapping: GemmMapping,
                hw: HardwareConfig, roles: dict[str, Slot], interleave: bool,
                index: int) -> tuple[list[Tile], set[int]]:
    rows, cols = hw.array.rows, hw.array.cols
    stationarity, pattern = mapping.stationarity, mapping.pattern
    m, k, n, batch = part.shape.m, part.shape.k, part.shape.n, part.shape.batch
    group = pattern.m if pattern is not None else 1
    a_el, b_el = total.a / (batch * m * k), total.b / (batch * k * n)
    c_el = total.c / (batch * m * n)
    psum = FORMAT_BYTES[hw.numerics.accumulate]
    mt, kt, nt = _sizes(m, k, n, group, a_el, b_el, c_el, psum, hw, roles)
    if nt < min(cols, n) or mt < min(rows, m):  # not even one fold's tile: R x group x C
        need = {"weights": b_el * kt * min(cols, n),
                "activations": a_el * kt * min(rows, m),
                "outputs": (c_el if kt == k else psum) * min(rows, m) * min(cols, n)}
        role = next(r for r, b in need.items() if b > roles[r].bytes)
        slot = roles[role]
        raise SatsimError(f"record {index} ({op.layer}, {op.phase}): its smallest {role} tile "
                          f"({math.ceil(need[role])} bytes: one fold of the {rows}x{cols} "
                          f"array over {kt} of K) does not fit a {slot.bytes}-byte slot of "
                          f"buffer {slot.buffer}",
                          field=f"memory.buffers.{slot.buffer.split(':')[0]}.kib")
    ms = [min(mt, m - s) for s in range(0, m, mt)]
    ks = [min(kt, k - s) for s in range(0, k, kt)]
    ns = [min(nt, n - s) for s in range(0, n, nt)]
    a_of = split(total.a, [h * d for _ in range(batch) for h in ms for d in ks])
    b_of = split(total.b, [d * w for _ in range(batch) for d in ks for w in ns])
    c_of = split(total.c, [h * w for _ in range(batch) for h in ms for w in ns])
    # Whole reduction: keep one operand across the other's tiles, the one that moves fewer
    # bytes (N-outer keeps B, M-outer A). Sliced reduction: the output tile stays while its
    # slices stream in (N-outer, then M, then K).
    n_outer = len(ks) > 1 or total.a * len(ns) + total.b <= total.a + total.b * len(ms)
    order = ([(i, j) for j in range(len(ns)) for i in range(len(ms))] if n_outer
             else [(i, j) for i in range(len(ms)) for j in range(len(ns))])
    whole = len(ks) == 1
    same: dict[tuple, Tile] = {}  # equal tiles are one object

    def tile(h: int, w: int, d: int, a: int, b: int, c: int, first: bool, last: bool,
             stays_a: bool, stays_b: bool) -> Tile:
        key = (h, w, d, a, b, c, first, last, stays_a, stays_b)
        if key not in same:
            stream = d if pattern is None else pattern.compressed_length(d)
            if stationarity is Stationarity.OS:
                run = FoldRun(-(-h // rows) * -(-w // cols), stream)
                b_reads = -(-h // rows)
            else:
                run = FoldRun(-(-stream // rows) * -(-w // cols), h)
                b_reads = 1
            same[key] = Tile(
                load_a=0 if stays_a else a, load_b=0 if stays_b else b, a_bytes=a, b_bytes=b,
                out=(c if whole else math.ceil(psum * h * w)) if first else 0,
                store_c=c if last else 0,
                cycles=run_cycles(run, stationarity, rows, cols, interleave),
                macs=h * w * (d if pattern is None else pattern.kept(d)),
                slots=run.folds * run.stream_cycles * rows * cols, a_reads=-(-w // cols),
                b_reads=b_reads, psum=0 if whole or first else math.ceil(psum * h * w))
        return same[key]

    steps: list[Tile] = []
    last = len(ks) - 1
    for g in range(batch):
        for step, (i, j) in enumerate(order):
            h, w = ms[i], ns[j]
            c = c_of[(g * len(ms) + i) * len(ns) + j]
            stays_b = whole and n_outer and step % len(ms) != 0
            stays_a = whole and not n_outer and step % len(ns) != 0
            at_a, at_b = (g * len(ms) + i) * len(ks), g * len(ks) * len(ns) + j
            for q, d in enumerate(ks):
                key = (h, w, d, a_of[at_a + q], b_of[at_b + q * len(ns)], c, q == 0,
                       q == last, stays_a, stays_b)
                steps.append(same.get(key) or tile(*key))
    inner = len(ms) if n_outer else len(ns)  # tiles per column (N-outer) or row
    return steps, {len(ks), len(ks) * inner, len(ks) * len(ms) * len(ns)}


def chunks(elements: int, in_bytes: int, out_bytes: int, slot: Slot, what: str,
           unit: str = "element") -> list[tuple[int, int, int]]:
    """A streamed job of ``elements`` units (elements, or the SORE's groups) in pieces that
    fit one slot: ``(units, load, store)`` each."""
    per = (in_bytes + out_bytes) / elements
    most = min(elements, int(slot.bytes // per)) if per else elements

    def worst(count: int) -> int:  # the most bytes a chunk of ``count`` gets from split()
        return -(-in_bytes * count // elements) - (-out_bytes * count // elements)

    while most > 0 and worst(most) > slot.bytes:
        most -= 1
    if most < 1:
        raise SatsimError(f"{what}: one {unit}'s {math.ceil(per)} bytes do not fit a "
                          f"{slot.bytes}-byte slot of buffer {slot.buffer}",
                          field=f"memory.buffers.{slot.buffer.split(':')[0]}.kib")
    sizes = [most] * (elements // most) + ([elements % most] if elements % most else [])
    return list(zip(sizes, split(in_bytes, sizes), split(out_bytes, sizes), strict=True))
