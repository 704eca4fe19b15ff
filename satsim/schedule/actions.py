"""Action counts: what each step of the schedule does, for the energy model to price.

Counts are per ``(unit, action)``, non-negative by construction:

* ``stce``: ``mac`` (multiply-accumulates executed), ``mac_gated`` (MAC slots of the folds'
  streams that did no work: edge tiles, N:M padding), ``mux_select`` (an N:M MAC picks its
  activation through the PE's M:1 multiplexer), ``index_read`` (the index of its weight
  that drives that select);
* ``buffer:<name>``: ``read_bytes`` and ``write_bytes``: DRAM loads write a buffer; the array
  reads its A tile once per column of folds and its B tile once per row of folds (OS) or
  once (WS), writes its results (and, over a sliced reduction, reads and writes the fp32
  partial sums of every slice after the first); a store reads the results back; a streamed
  chunk is written and read once in each direction;
* ``dram``: ``read_bytes``, ``write_bytes``;
* ``sore``: ``compare`` (each weight against the n kept ones of its group);
* ``vector``: ``lane_op`` (an element's operation on one lane: its cycles per element), and
  ``update_lane_op`` for the optimizer.
"""

from __future__ import annotations

from satsim.machine.program import Access, MaskJob, VectorJob
from satsim.schedule.tiling import Slot, Tile
from satsim.trace.schema import MaskGenOp, UpdateOp

Actions = tuple[tuple[tuple[str, str], int], ...]


def stce_actions(macs: int, slots: int, sparse: bool) -> Actions:
    return ((("stce", "mac"), macs), (("stce", "mac_gated"), slots - macs),
            (("stce", "mux_select"), macs if sparse else 0),
            (("stce", "index_read"), macs if sparse else 0))


def bank_actions(*accesses: Access) -> Actions:
    """Bytes read and written per buffer, over ``accesses``."""
    total: dict[str, tuple[int, int]] = {}
    for a in accesses:
        read, write = total.get(a.buffer, (0, 0))
        total[a.buffer] = (read + a.read, write + a.write)
    return tuple(item for name, (read, write) in total.items()
                 for item in (((f"buffer:{name}", "write_bytes"), write),
                              ((f"buffer:{name}", "read_bytes"), read)))


def gang_access(tile: Tile, roles: dict[str, Slot]) -> list[tuple[Access, ...]]:
    """What each instance's array reads and writes for a GEMM tile (the first instance's
    :class:`Tile`, then its ``gang``): its A tile once per column of folds, its B tile once
    per row of folds (OS) or once (WS); its results, and over a sliced reduction the fp32
    partial sums of every slice after the first, read and rewritten. In a buffer private to
    the instances, each its own; in a shared one, the first instance's task carries all the
    traffic (one set of ports serves them), and B, the same for all, is read once for all
    (broadcast)."""
    lanes = (tile, *tile.gang)
    found: list[list[Access]] = [[] for _ in lanes]
    for role, reads, writes in (
            ("activations", lambda t: t.a_bytes * t.a_reads, lambda t: 0),
            ("weights", lambda t: t.b_bytes * t.b_reads, lambda t: 0),
            ("outputs", lambda t: t.psum, lambda t: t.store_c + t.psum)):
        slot = roles[role]
        if slot.private:
            for i, t in enumerate(lanes):
                found[i].append(Access(slot.at(i), read=reads(t), write=writes(t)))
        elif role == "weights":
            found[0].append(Access(slot.buffer, read=reads(tile)))
        else:
            found[0].append(Access(slot.buffer, read=sum(map(reads, lanes)),
                                   write=sum(map(writes, lanes))))
    return [tuple(a) for a in found]


def stream_access(load: int, store: int, buffer: str) -> tuple[Access, ...]:
    """A streamed chunk's unit reads its inputs and writes its results."""
    return (Access(buffer, read=load, write=store),)


def stream_actions(load: int, store: int, buffer: str) -> Actions:
    """A streamed chunk: the DMA writes its inputs, the unit reads them and writes its
    results, the DMA reads those back."""
    return (*bank_actions(Access(buffer, write=load), *stream_access(load, store, buffer),
                          Access(buffer, read=store)),
            (("dram", "read_bytes"), load), (("dram", "write_bytes"), store))


def unit_actions(work: MaskJob | VectorJob, record) -> Actions:
    """The SORE's compares or the vector unit's lane operations of one job."""
    if isinstance(work, MaskJob):
        kept = record.sparsity.n if isinstance(record, MaskGenOp) else 1
        return ((("sore", "compare"), work.groups * work.m * kept),)
    action = "update_lane_op" if isinstance(record, UpdateOp) else "lane_op"
    return ((("vector", action), work.elements * work.cycles_per_element),)
