"""Op -> mapping: stationarity, tiling into folds, N:M sparse mode."""

from satsim.mapping.gemm import GemmMapping, map_gemm

__all__ = ["GemmMapping", "map_gemm"]
