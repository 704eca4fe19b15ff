"""Hardware description: the STCE array, its sparsity support, numerics and units."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from satsim.types import NMPattern

# Documented limits: far beyond any accelerator studied, small enough that a typo (an extra
# zero, a stray exponent) is an error rather than an hour-long run.
MAX_PES_PER_SIDE = 4096
MAX_M = 64
MAX_LANES = 4096
MIN_CLOCK_MHZ, MAX_CLOCK_MHZ = 1.0, 10_000.0


class _Frozen(BaseModel):
    # strict: a YAML `true` is not the number 1, nor "16" the number 16.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ArrayConfig(_Frozen):
    """The STCE: a systolic array of PEs."""

    rows: PositiveInt = Field(le=MAX_PES_PER_SIDE,
                              description="PE rows (reduction lanes in WS, output rows in OS)")
    cols: PositiveInt = Field(le=MAX_PES_PER_SIDE, description="PE columns (output columns)")
    timing: Literal["satsim", "scalesim"] = Field(
        default="satsim",
        description="cycle-count conventions: 'satsim' (the STCE micro-architecture, proven "
                    "against its cycle-stepped reference) or 'scalesim' (SCALE-Sim 3.0.0's "
                    "compute cycles, for parity with its numbers; docs/scalesim.md)")


class SparsityConfig(_Frozen):
    """Which N:M patterns the STCE's operand muxes support."""

    max_m: int = Field(ge=2, le=MAX_M,
                       description="largest group size M; N:M needs 1 <= N < M <= max_m")

    def supports(self, pattern: NMPattern | None) -> bool:
        """Whether the array can run ``pattern`` (dense is always supported)."""
        return pattern is None or pattern.m <= self.max_m


Format = Literal["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32"]


class ConvConfig(_Frozen):
    """How the STCE runs convolutions lowered to GEMMs (implicit GEMM)."""

    strided_bp: Literal["zero_insert", "decompose"] = Field(
        description="data gradient of a strided conv: 'zero_insert' runs one GEMM over the "
                    "stride-dilated gradient (s^2 x the forward's MACs); 'decompose' runs one "
                    "sub-GEMM per stride phase (the forward's MACs)")


class NumericsConfig(_Frozen):
    """Number formats of the datapath (used by the functional model)."""

    operand: Format = Field(description="format of GEMM operands")
    accumulate: Format = Field(description="format of the PE accumulators")
    master: Format = Field(description="format of the master weights updated by the WUVE")


class LanesConfig(_Frozen):
    """A vector-style unit described by its parallel lanes."""

    lanes: PositiveInt = Field(le=MAX_LANES, description="parallel lanes")


class HardwareConfig(_Frozen):
    """One accelerator. Sizes are counts; the clock is in MHz."""

    name: str = Field(min_length=1, description="preset name shown in reports")
    clock_mhz: float = Field(ge=MIN_CLOCK_MHZ, le=MAX_CLOCK_MHZ, allow_inf_nan=False,
                                     description="core clock in MHz")
    array: ArrayConfig
    sparsity: SparsityConfig
    conv: ConvConfig
    numerics: NumericsConfig
    memory: Literal["ideal"] = Field(
        description="'ideal': operands always on chip, no stalls (the hierarchy comes later)")
    sore: LanesConfig = Field(description="sparse online reduction engine (mask generation)")
    vector: LanesConfig = Field(description="weight-update / vector engine")

    @property
    def pes(self) -> int:
        """Number of PEs in the array."""
        return self.array.rows * self.array.cols
