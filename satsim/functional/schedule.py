"""Which mapping and K slicing the timing side chooses for an op: what decides its values.

Stationarity, lowering and parts come from :func:`satsim.mapping.map_gemm`. With a memory
system the plain schedule may slice the reduction (``kt`` < K, partial sums kept in the
output buffer); the slice changes the accumulation order, so it is asked of the scheduler's
own tiler (``satsim.search.tiler.Tiler.tile_sizes``). On ideal memory nothing is sliced.
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
    from satsim.schedule.emitter import Emitter
    from satsim.schedule.tiling import FORMAT_BYTES, Sizes, gemm_bytes
    from satsim.search.tiler import Tiler

    roles = Emitter(hw, None).roles
    if roles is None:
        return [part.shape.k for part in mapping.parts]
    sizes = Sizes(trace, hw) if trace.has_graph else None
    op_bytes = gemm_bytes(op, sizes, FORMAT_BYTES[hw.numerics.operand])
    return [kt for _, kt, _ in Tiler(hw, policy, roles).tile_sizes(index, op, mapping,
                                                                     op_bytes)]
