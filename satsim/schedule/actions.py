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


def tile_access(tile: Tile, roles: dict[str, Slot]) -> tuple[Access, ...]:
    """What the array reads and writes for a GEMM tile: its A tile once per column of folds,
    its B tile once per row of folds (OS) or once (WS); its results, and over a sliced
    reduction the fp32 partial sums of every slice after the first, read and rewritten."""
    act, wgt, out = (roles[r].buffer for r in ("activations", "weights", "outputs"))
    return (Access(act, read=tile.a_bytes * tile.a_reads),
            Access(wgt, read=tile.b_bytes * tile.b_reads),
            Access(out, read=tile.psum, write=tile.store_c + tile.psum))


def tile_actions(tile: Tile, sparse: bool, roles: dict[str, Slot]) -> Actions:
    """A GEMM tile's array work and its buffer and DRAM traffic: the DMA writes the loaded
    operands, the array's accesses (:func:`tile_access`), the DMA reads the results."""
    act, wgt, out = (roles[r].buffer for r in ("activations", "weights", "outputs"))
    return (*stce_actions(tile.macs, tile.slots, sparse),
            *bank_actions(Access(act, write=tile.load_a), Access(wgt, write=tile.load_b),
                          *tile_access(tile, roles), Access(out, read=tile.store_c)),
            (("dram", "read_bytes"), tile.load_a + tile.load_b),
            (("dram", "write_bytes"), tile.store_c))


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
