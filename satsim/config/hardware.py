"""Hardware description: the STCE array, its sparsity support, numerics and units."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

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


class VectorConfig(LanesConfig):
    """The weight-update / vector engine (WUVE): lanes and what each operation costs."""

    cycles_per_element: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="cycles one lane spends per output element of each vector operation "
                    "(the trace's op names: relu, batchnorm, softmax, add, ...)")
    update_cycles_per_parameter: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="cycles one lane spends per parameter of an update: per optimizer "
                    "(sgd, sgd-momentum) and 'recast' for writing the low-precision copy")


MAX_CHANNELS = 64
MAX_GBPS = 10_000.0
MAX_LATENCY_NS = 100_000.0
MAX_KIB = 1 << 30
MAX_BYTES_PER_CYCLE = 1 << 20
BufferRole = Literal["activations", "weights", "outputs", "vector", "masks"]
# Every one of these is held by exactly one buffer; "masks" (the SORE's own streams) by at
# most one: without it the SORE streams through the vector role's slots.
REQUIRED_ROLES = ("activations", "weights", "outputs", "vector")


class DramConfig(_Frozen):
    """Off-chip memory: channels working in parallel on every transfer."""

    channels: PositiveInt = Field(le=MAX_CHANNELS, description="independent channels")
    gbps_per_channel: float = Field(gt=0, le=MAX_GBPS, allow_inf_nan=False,
                                    description="peak bandwidth of one channel in GB/s")
    efficiency: float = Field(gt=0, le=1, allow_inf_nan=False,
                              description="fraction of the peak a stream of transfers achieves")
    latency_ns: float = Field(ge=0, le=MAX_LATENCY_NS, allow_inf_nan=False,
                              description="from a transfer's request to its first data, in ns")


class BufferConfig(_Frozen):
    """One on-chip buffer (SRAM) and the operands it holds."""

    kib: PositiveInt = Field(le=MAX_KIB, description="capacity in KiB")
    holds: list[BufferRole] = Field(
        min_length=1, description="what it holds: activations (GEMM A operands), weights "
                                  "(GEMM B operands), outputs (GEMM results), vector (the "
                                  "vector unit's and SORE's streams)")
    double_buffer: bool = Field(
        default=True, description="split in two halves so the next tile loads while the "
                                  "current one computes; off: loads wait for the compute")
    bytes_per_cycle: PositiveInt = Field(
        le=MAX_BYTES_PER_CYCLE,
        description="width of one bank's port: bytes it reads or writes per cycle. Every "
                    "slot (a role's share, each half when double-buffered) is a bank of "
                    "its own, so the DMA and a unit never share a port")
    # An int in 1..2, not Literal[1, 2]: a Literal matches by equality, so True and 2.0 pass.
    ports: int = Field(
        default=1, ge=1, le=2, description="ports per bank: 1, reads and writes share the bank's "
                               "bytes_per_cycle; 2, a read port and a write port, each that "
                               "wide (a unit reading its inputs while writing its results)")


class MemoryConfig(_Frozen):
    """DRAM and the on-chip buffers; every buffer role is held by exactly one buffer (masks:
    at most one)."""

    dram: DramConfig
    buffers: dict[str, BufferConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_buffer_per_role(self) -> MemoryConfig:
        for role in BufferRole.__args__:
            holders = [name for name, b in self.buffers.items() if role in b.holds]
            if len(holders) > 1 or (not holders and role in REQUIRED_ROLES):
                where = ", ".join(holders) if holders else "none"
                raise ValueError(f"{'exactly' if role in REQUIRED_ROLES else 'at most'} one buffer "
                                 f"must hold {role} (held by: {where})")
        return self

    def buffer_for(self, role: str) -> tuple[str, BufferConfig]:
        """The buffer holding ``role``."""
        return next((name, b) for name, b in self.buffers.items() if role in b.holds)

    def shares(self) -> dict[str, tuple[str, BufferConfig]]:
        """Per role, where it sits: the buffer's name (``name:role`` for a role's share of a
        buffer holding several) and the buffer."""
        return {role: (name if len(b.holds) == 1 else f"{name}:{role}", b)
                for name, b in self.buffers.items() for role in b.holds}


class EnergyChoice(_Frozen):
    """The energy table pricing the run's actions, and the values a sweep may vary."""

    table: str = Field(min_length=1, description="energy table: a shipped name "
                                                 "(configs/energy/: asic-45nm, vcu1525) or a "
                                                 "YAML file")
    dram_pj_per_bit: float | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="DRAM energy per bit read or written, in pJ, instead of the table's "
                    "(null: the table's)")


class HardwareConfig(_Frozen):
    """One accelerator. Sizes are counts; the clock is in MHz."""

    name: str = Field(min_length=1, description="preset name shown in reports")
    # Documentation, not the machine: left out of dumps (results, schedule fingerprints).
    description: str = Field(default="", exclude=True,
                             description="one line on what it is, shown by satsim list")
    clock_mhz: float = Field(ge=MIN_CLOCK_MHZ, le=MAX_CLOCK_MHZ, allow_inf_nan=False,
                                     description="core clock in MHz")
    array: ArrayConfig
    sparsity: SparsityConfig
    conv: ConvConfig
    numerics: NumericsConfig
    memory: Literal["ideal"] | MemoryConfig = Field(
        description="'ideal' (operands always on chip, no stalls) or DRAM and buffers")
    sore: LanesConfig | None = Field(
        description="sparse online reduction engine (mask generation); null: not timed")
    vector: VectorConfig | None = Field(
        description="weight-update / vector engine; null: vector work and updates not timed")
    energy: EnergyChoice | None = Field(
        default=None, description="energy table (NAME|FILE, or {table: NAME|FILE, "
                                  "dram_pj_per_bit: ...}); null: energy not modelled")

    @field_validator("energy", mode="before")
    @classmethod
    def _table_name(cls, value):
        return {"table": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _scalesim_counts_compute_only(self) -> HardwareConfig:
        if self.array.timing == "scalesim" and self.memory != "ideal":
            raise ValueError("array.timing 'scalesim' counts SCALE-Sim's compute cycles, which "
                             "assume operands on chip: use memory: ideal with it")
        return self

    @property
    def pes(self) -> int:
        """Number of PEs in the array."""
        return self.array.rows * self.array.cols
