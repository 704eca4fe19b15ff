"""Hardware description: the STCE array, its sparsity support, numerics and units."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from satsim.types import NMPattern


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ArrayConfig(_Frozen):
    """The STCE: a systolic array of PEs."""

    rows: PositiveInt = Field(description="PE rows (reduction lanes in WS, output rows in OS)")
    cols: PositiveInt = Field(description="PE columns (output columns)")


class SparsityConfig(_Frozen):
    """Which N:M patterns the STCE's operand muxes support."""

    max_m: int = Field(ge=2, description="largest group size M; N:M needs 1 <= N < M <= max_m")

    def supports(self, pattern: NMPattern | None) -> bool:
        """Whether the array can run ``pattern`` (dense is always supported)."""
        return pattern is None or pattern.m <= self.max_m


Format = Literal["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32"]


class NumericsConfig(_Frozen):
    """Number formats of the datapath (used by the functional model)."""

    operand: Format = Field(description="format of GEMM operands")
    accumulate: Format = Field(description="format of the PE accumulators")
    master: Format = Field(description="format of the master weights updated by the WUVE")


class LanesConfig(_Frozen):
    """A vector-style unit described by its parallel lanes."""

    lanes: PositiveInt = Field(description="parallel lanes")


class HardwareConfig(_Frozen):
    """One accelerator. Sizes are counts; the clock is in MHz."""

    name: str = Field(min_length=1, description="preset name shown in reports")
    clock_mhz: PositiveFloat = Field(description="core clock in MHz")
    array: ArrayConfig
    sparsity: SparsityConfig
    numerics: NumericsConfig
    memory: Literal["ideal"] = Field(
        description="'ideal': operands always on chip, no stalls (the hierarchy comes later)")
    sore: LanesConfig = Field(description="sparse online reduction engine (mask generation)")
    vector: LanesConfig = Field(description="weight-update / vector engine")

    @property
    def pes(self) -> int:
        """Number of PEs in the array."""
        return self.array.rows * self.array.cols
