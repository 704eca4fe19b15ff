"""Chunks of the streamed (vector, update, SORE) work: a stream goes through one slot in
equal chunks (the last: the rest).

Chunk sizes come from a ladder that does not depend on the buffers (1, 2, 4 ... units and the
whole stream, no more than ``max(MIN_CHUNKS, bytes / GRANULE)`` chunks), so that a bigger
buffer never slows a stream; of those that fit a slot, the schedule takes the fastest alone
(see :mod:`satsim.schedule.tiling` for the rule and :class:`satsim.search.tiler.Tiler`).
"""

from __future__ import annotations

import math

from satsim.errors import SatsimError
from satsim.machine.costs import Machine, busy_cycles
from satsim.machine.program import Transfer
from satsim.schedule.tiling import MAX_STEPS, Slot, ladder, split

# A stream is cut into at most max(MIN_CHUNKS, its bytes / GRANULE) chunks (its Program's
# size stays in proportion to its bytes; see chunk_sizes).
MIN_CHUNKS, GRANULE = 64, 32 * 1024


def chunk_sizes(elements: int, in_bytes: int, out_bytes: int, slot: Slot, machine: Machine,
                work, ahead: int, what: str,
                unit: str = "element") -> list[tuple[float, int]]:
    """Every chunk size (units) of the ladder that fits one slot, each with a lower bound of
    the stream's cycles run alone (exact sums of its transfers and jobs: the DMA moves them
    all; the unit computes every chunk between the first load and the last store).
    ``work(units)``: a chunk's job; ``ahead``: steps loads run ahead (0 or 1). The ladder:
    powers of two and the whole stream, but no more than max(MIN_CHUNKS, bytes / GRANULE)
    chunks, nor MAX_STEPS; if none fits (a slot smaller than a chunk of that many), the most
    units that do, within MAX_STEPS chunks."""
    least = -(-elements // min(MAX_STEPS,
                               max(MIN_CHUNKS, -(-(in_bytes + out_bytes) // GRANULE))))
    sizes = [c for c in ladder(elements, 1) if c >= least]
    fits = [c for c in sizes if _worst(c, elements, in_bytes, out_bytes) <= slot.bytes]
    if not fits:
        most = min(elements, slot.bytes * elements // max(1, in_bytes + out_bytes))
        while most > 0 and _worst(most, elements, in_bytes, out_bytes) > slot.bytes:
            most -= 1
        if most < 1:
            per = (in_bytes + out_bytes) / elements
            raise SatsimError(f"{what}: one {unit}'s {math.ceil(per)} bytes do not fit a "
                              f"{slot.bytes}-byte slot of buffer {slot.buffer}",
                              field=f"memory.buffers.{slot.buffer.split(':')[0]}.kib")
        if -(-elements // most) > MAX_STEPS:
            raise SatsimError(f"{what}: {elements:,} {unit}s in chunks that fit a "
                              f"{slot.bytes}-byte slot of buffer {slot.buffer} are more than "
                              f"{MAX_STEPS:,} chunks, satsim's limit on one op's steps (a run "
                              "takes seconds)",
                              field=f"memory.buffers.{slot.buffer.split(':')[0]}.kib")
        fits = [most]
    latency = machine.dram_latency_cycles
    found = []
    for size in fits:
        count = elements // size
        rest = elements - count * size
        loads, stores = _runs(in_bytes, size, count, rest), _runs(out_bytes, size, count, rest)
        dma = sum(n * (_transfer(b, machine)) for b, n in loads + stores)
        jobs = count * busy_cycles(work(size), machine) + (
            busy_cycles(work(rest), machine) if rest else 0)
        pieces = count + bool(rest)
        if min(b for b, _ in loads + stores):  # every chunk loads and stores
            if slot.slots == ahead + 1:
                # A load waits for its slot's previous chunk to be stored, which is then
                # the transfer just before it: the DMA idles an access latency before each
                # load after the first ``slots``.
                dma += max(0, pieces - slot.slots) * latency
            if not ahead:  # and between a chunk's load and its store, while it computes
                dma += jobs
        load = loads[0][0]  # the first job waits for its inputs, if it has any
        first = latency + _transfer(load, machine) if load else 0
        found.append((max(latency + dma if dma else 0,
                          first + jobs + _transfer(stores[-1][0], machine)), size))
    return found


def _runs(total: int, size: int, count: int, rest: int) -> list[tuple[int, int]]:
    """``split(total, [size] * count + [rest])`` (no rest if 0) as runs ``(bytes, how
    many)`` in order, computed from the two fractions rather than chunk by chunk."""
    whole = size * count + rest
    base, fraction = divmod(total * size, whole)
    last, last_fraction = divmod(total * rest, whole)
    left = total - base * count - last
    # One more byte each to the largest fractions, ties to the later: the rest is last.
    rest_first = bool(rest) and left > 0 and last_fraction >= fraction
    more = min(count, left - rest_first)
    last += bool(rest) and left - more > 0
    runs = [(base, count - more), (base + 1, more)] + [(last, 1)] * bool(rest)
    return [(b, n) for b, n in runs if n]


def _worst(count: int, elements: int, in_bytes: int, out_bytes: int) -> int:
    """The most bytes a chunk of ``count`` units gets from split()."""
    return -(-in_bytes * count // elements) - (-out_bytes * count // elements)


def _transfer(size: int, machine: Machine) -> int:
    return busy_cycles(Transfer(size, write=False), machine) if size else 0


def chunks(elements: int, in_bytes: int, out_bytes: int,
           size: int) -> list[tuple[int, int, int]]:
    """A streamed job of ``elements`` units (elements, or the SORE's groups) in pieces of
    ``size`` units (the last: the rest): ``(units, load, store)`` each."""
    sizes = [size] * (elements // size) + ([elements % size] if elements % size else [])
    return list(zip(sizes, split(in_bytes, sizes), split(out_bytes, sizes), strict=True))
