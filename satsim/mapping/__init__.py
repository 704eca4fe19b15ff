"""Op -> mapping: lowering, stationarity, tiling into folds, N:M sparse mode."""

from satsim.mapping.gemm import GemmMapping, GemmPart, map_gemm
from satsim.mapping.lowering import GemmShape, Lowering, lower

__all__ = ["GemmMapping", "GemmPart", "GemmShape", "Lowering", "lower", "map_gemm"]
