"""Which mapping and K slicing the timing side chooses for an op: what decides its values.

Stationarity, lowering and parts come from :func:`satsim.mapping.map_gemm`. With a memory
system the plain schedule may slice the reduction (``kt`` < K, partial sums kept in the
output buffer); the slice changes the accumulation order, so it is asked of the scheduler
exactly as it chooses it (the same ladders, the same timing, the same tie rule as
``satsim.schedule.plain._Tiler.gemm``). On ideal memory nothing is sliced.
"""

from __future__ import annotations

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.mapping import GemmMapping, map_gemm
from satsim.trace.schema import GemmOp, Trace


def op_mapping(op: GemmOp, hw: HardwareConfig, policy: DataflowPolicy) -> GemmMapping:
    """The mapping the timing side uses for ``op``."""
    return map_gemm(op, hw, policy)


def k_slices(trace: Trace, index: int, op: GemmOp, mapping: GemmMapping, hw: HardwareConfig,
             policy: DataflowPolicy) -> list[int]:
    """The reduction length ``kt`` of each part's tiles (``part.shape.k``: not sliced)."""
    from satsim.schedule.plain import Emitter, _tile_steps, _Tiler
    from satsim.schedule.tiling import (
        FORMAT_BYTES,
        Sizes,
        gemm_bytes,
        part_bytes,
        part_tiles,
        tile_sizes,
    )

    roles = Emitter(hw, None).roles
    if roles is None:
        return [part.shape.k for part in mapping.parts]
    tiler = _Tiler(hw, policy, roles)
    sizes = Sizes(trace, hw) if trace.has_graph else None
    op_bytes = gemm_bytes(op, sizes, FORMAT_BYTES[hw.numerics.operand])
    sparse = mapping.pattern is not None
    found = []
    for part, total in zip(mapping.parts, part_bytes(op_bytes, mapping), strict=True):
        built: list[tuple[list, tuple[int, int, int]]] = []

        def build(size, part=part, total=total, built=built):
            tiles, loops = part_tiles(part, total, mapping, hw, policy.interleave, size)
            steps = _tile_steps(tiles, sparse, roles)
            built.append((steps, size))
            return steps, loops

        candidates = tile_sizes(op, part, total, mapping, hw, roles, policy.interleave, index,
                                tiler.machine, tiler.ahead)
        steps, _ = tiler._best(index, op, candidates, build,
                               lambda size: (-size[1], -size[2], -size[0]))
        found.append(next(size for s, size in built if s is steps)[1])
    return found
