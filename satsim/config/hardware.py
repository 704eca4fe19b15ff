"""Hardware description: the machine's units, the routes of its work, numerics and memory.

A machine is data: named unit instances of registered kinds (:mod:`satsim.config.units`),
routes saying which unit serves which records, the DRAM and a set of named buffers serving
named roles. Validated once, here; every later stage reads this one object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from satsim.config.units import (
    KINDS,
    MAC_KINDS,
    Frozen,
    MaskGenUnit,
    MmaUnit,
    SystolicUnit,
    UnitConfig,
    VectorUnit,
    invalid,
)
from satsim.resources import shipped

MIN_CLOCK_MHZ, MAX_CLOCK_MHZ = 1.0, 10_000.0

Format = Literal["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32"]


class ConvConfig(Frozen):
    """How the STCE runs convolutions lowered to GEMMs (implicit GEMM)."""

    strided_bp: Literal["zero_insert", "decompose"] = Field(
        description="data gradient of a strided conv: 'zero_insert' runs one GEMM over the "
                    "stride-dilated gradient (s^2 x the forward's MACs); 'decompose' runs one "
                    "sub-GEMM per stride phase (the forward's MACs)")


class NumericsConfig(Frozen):
    """Number formats of the datapath (used by the functional model)."""

    operand: Format = Field(description="format of GEMM operands")
    accumulate: Format = Field(description="format of the PE accumulators")
    master: Format = Field(description="format of the master weights updated by the WUVE")


MAX_CHANNELS = 64
MAX_GBPS = 10_000.0
MAX_LATENCY_NS = 100_000.0
MAX_KIB = 1 << 30
MAX_BYTES_PER_CYCLE = 1 << 20
BufferRole = Literal["activations", "weights", "outputs", "vector", "masks"]
# Every one of these is held by exactly one buffer; "masks" (the SORE's own streams) by at
# most one: without it the SORE streams through the vector role's slots.
REQUIRED_ROLES = ("activations", "weights", "outputs", "vector")


class DramConfig(Frozen):
    """Off-chip memory: channels working in parallel on every transfer."""

    channels: PositiveInt = Field(le=MAX_CHANNELS, description="independent channels")
    gbps_per_channel: float = Field(gt=0, le=MAX_GBPS, allow_inf_nan=False,
                                    description="peak bandwidth of one channel in GB/s")
    efficiency: float = Field(gt=0, le=1, allow_inf_nan=False,
                              description="fraction of the peak a stream of transfers achieves")
    latency_ns: float = Field(ge=0, le=MAX_LATENCY_NS, allow_inf_nan=False,
                              description="from a transfer's request to its first data, in ns")
    dma: Literal["shared", "private"] = Field(
        default="shared",
        description="shared: one DMA queue over all the channels; private: one queue per "
                    "instance of the MAC engine, the channels divided among them, each moving "
                    "its instance's private buffers' data (shared buffers' on the first)")


class BufferConfig(Frozen):
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
    private_to: str | None = Field(
        default=None, description="a unit whose instances each have a buffer like this of "
                                  "their own (null: one buffer, shared by every unit)")
    # An int in 1..2, not Literal[1, 2]: a Literal matches by equality, so True and 2.0 pass.
    ports: int = Field(
        default=1, ge=1, le=2, description="ports per bank: 1, reads and writes share the bank's "
                               "bytes_per_cycle; 2, a read port and a write port, each that "
                               "wide (a unit reading its inputs while writing its results)")


class MemoryConfig(Frozen):
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


class EnergyChoice(Frozen):
    """The energy table pricing the run's actions, and the values a sweep may vary."""

    table: str = Field(min_length=1, description="energy table: a shipped name "
                                                 "(configs/energy/: asic-45nm, vcu1525) or a "
                                                 "YAML file")
    dram_pj_per_bit: float | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="DRAM energy per bit read or written, in pJ, instead of the table's "
                    "(null: the table's)")


UNTIMED = "untimed"
# What each route's records need of the unit serving them.
# Per route, the kinds of unit that can serve it: GEMMs on a MAC engine; masks on a mask
# generator or, costing its cycles, on a vector unit.
ROUTE_KINDS = {"FF": MAC_KINDS, "BP": MAC_KINDS, "WG": MAC_KINDS,
               "maskgen": ("maskgen", "vector"), "vector": ("vector",), "update": ("vector",)}
_WORK = {"FF": "forward GEMMs", "BP": "data-gradient GEMMs", "WG": "weight-gradient GEMMs",
         "maskgen": "N:M mask generators", "vector": "vector ops", "update": "weight updates"}


class Routes(Frozen):
    """Which unit serves which records: a unit's name, or ``untimed`` to leave that work out
    of the timing (the report's scope lines say so). Every kind of record has a route."""

    FF: str = Field(min_length=1, description="the MAC engine running forward GEMMs")
    BP: str = Field(min_length=1, description="the MAC engine running data-gradient GEMMs")
    WG: str = Field(min_length=1, description="the MAC engine running weight-gradient GEMMs")
    maskgen: str = Field(min_length=1, description="the unit generating N:M masks "
                                                   "(untimed: masks cost nothing)")
    vector: str = Field(min_length=1, description="the unit running element-wise vector work "
                                                  "(untimed: it costs nothing)")
    update: str = Field(min_length=1, description="the unit running weight updates "
                                                  "(untimed: they cost nothing)")


# The top-level keys of the format before units and routes, each with where it went.
_MOVED = {"array": "units.<name> with kind: systolic (rows, cols, timing)",
          "sparsity": "units.<name>.sparsity of the systolic unit",
          "sore": "units.<name> with kind: maskgen (lanes), routed by routes.maskgen",
          "vector": "units.<name> with kind: vector, routed by routes.vector and routes.update"}


class HardwareConfig(Frozen):
    """One accelerator: its units and routes, numerics and memory. The clock is in MHz."""

    name: str = Field(min_length=1, description="preset name shown in reports")
    # Documentation, not the machine: left out of dumps (results, schedule fingerprints).
    description: str = Field(default="", exclude=True,
                             description="one line on what it is, shown by satsim list")
    # Which dataflow runs it when none is given: a default, not the machine (left out too).
    dataflow: str = Field(default="sat", exclude=True,
                          description="the shipped dataflow a run uses when --dataflow is not "
                                      "given")
    clock_mhz: float = Field(ge=MIN_CLOCK_MHZ, le=MAX_CLOCK_MHZ, allow_inf_nan=False,
                             description="core clock in MHz")
    units: dict[str, UnitConfig] = Field(
        min_length=1, description="the machine's units by name: each a kind (" +
                                  ", ".join(KINDS) + "), a count and the kind's parameters")
    routes: Routes = Field(description="which unit serves which records")
    conv: ConvConfig
    numerics: NumericsConfig
    memory: Literal["ideal"] | MemoryConfig = Field(
        description="'ideal' (operands always on chip, no stalls) or DRAM and buffers")
    energy: EnergyChoice | None = Field(
        default=None, description="energy table (NAME|FILE, or {table: NAME|FILE, "
                                  "dram_pj_per_bit: ...}); null: energy not modelled")

    @model_validator(mode="before")
    @classmethod
    def _not_the_old_format(cls, data):
        if isinstance(data, dict) and "units" not in data:
            for key, where in _MOVED.items():
                if key in data:
                    raise ValueError(f"{key}: a machine lists its units under units: now; "
                                     f"this goes to {where} (docs/extending.md)")
        return data

    @field_validator("dataflow")
    @classmethod
    def _shipped_dataflow(cls, name: str) -> str:
        shipped_dataflows = shipped("dataflows", (".yaml", ".yml"))
        if name not in shipped_dataflows:
            raise ValueError(f"{name!r}: not a shipped dataflow ({', '.join(shipped_dataflows)})")
        return name

    @field_validator("energy", mode="before")
    @classmethod
    def _table_name(cls, value):
        return {"table": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _units_and_routes(self) -> HardwareConfig:
        for name, unit in self.units.items():
            if (name in type(self).model_fields or name in (UNTIMED, "hw")
                    or not name.isidentifier()):
                raise invalid(("units", name), "a unit's name is a word of letters, digits and "
                              "_ that is no other key of the hardware, nor untimed or hw "
                              "(--set NAME.FIELD sets its fields)", name)
            if unit.count > 1 and unit.kind not in MAC_KINDS:  # its records go to one
                raise invalid(("units", name, "count"), f"{unit.count} instances: several "
                              f"instances of a {unit.kind} unit are not modelled yet (a MAC "
                              "engine's are)", unit.count)
        for route, kinds in ROUTE_KINDS.items():
            target = getattr(self.routes, route)
            where = ("routes", route)
            gemms = kinds == MAC_KINDS
            if target == UNTIMED:
                if gemms:
                    raise invalid(where, f"{_WORK[route]} cannot be left untimed: name the "
                                  "MAC engine that runs them", target)
                continue
            unit = self.units.get(target)
            if unit is None:
                choices = ", ".join(self.units) + ("" if gemms else f", or {UNTIMED}")
                raise invalid(where, f"no unit {target!r} to run {_WORK[route]} (units: "
                              f"{choices})", target)
            if unit.kind not in kinds:
                raise invalid(where, f"unit {target!r} is a {unit.kind} unit; {_WORK[route]} "
                              f"run on a {' or '.join(kinds)} unit", target)
        if len({self.routes.FF, self.routes.BP, self.routes.WG}) > 1:
            raise invalid(("routes",), "FF, BP and WG on different MAC engines are not "
                          "modelled yet: route them to one", self.routes.model_dump())
        vector = {self.routes.vector, self.routes.update, self.routes.maskgen} & {
            name for name, unit in self.units.items() if unit.kind == "vector"}
        if len(vector) > 1:
            raise invalid(("routes",), "vector work, updates and masks on different vector "
                          "units are not modelled yet: route them to one",
                          self.routes.model_dump())
        if self.memory != "ideal":
            self._private_buffers(self.memory)
            dram, count = self.memory.dram, self.engine.count
            if dram.dma == "private" and dram.channels % count:
                raise invalid(("memory", "dram", "channels"), f"{dram.channels} channels do not "
                              f"divide among {count} private DMA queues (one per instance of "
                              f"{self.routes.FF}): give a multiple of {count}", dram.channels)
        if self.scalesim_timing and self.engine.count > 1:
            raise invalid(("units", self.routes.FF, "count"), "SCALE-Sim's conventions time "
                          "one array: count 1 with timing 'scalesim'", self.engine.count)
        if self.scalesim_timing and self.memory != "ideal":
            raise invalid(("memory",), f"units.{self.routes.FF}.timing 'scalesim' counts "
                          "SCALE-Sim's compute cycles, which assume operands on chip: use "
                          "memory: ideal with it", "scalesim")
        return self

    def shares(self) -> dict[str, tuple[tuple[str, ...], BufferConfig]]:
        """Per role, where it sits: the Program buffers (one, or one per instance of the
        unit a private buffer belongs to: ``act#0``, ``act#1``; ``name:role`` for a role's
        share of a buffer holding several) and the buffer config."""
        found = {}
        for role, (label, buffer) in self.memory.shares().items():
            owner = buffer.private_to
            count = self.units[owner].count if owner is not None else 1
            if count == 1:
                found[role] = ((label,), buffer)
                continue
            name, sep, rest = label.partition(":")
            found[role] = (tuple(f"{name}#{i}{sep}{rest}" for i in range(count)), buffer)
        return found

    def users(self, role: str) -> set[str]:
        """The units whose work reads or writes ``role``'s buffer."""
        if role in ("activations", "weights", "outputs"):
            return {self.routes.FF}
        if role == "masks":
            return {self.routes.maskgen} - {UNTIMED}
        masks_apart = self.memory != "ideal" and any(
            "masks" in b.holds for b in self.memory.buffers.values())
        # Without a masks buffer, mask generation streams through the vector role's slots.
        routes = ("vector", "update") if masks_apart else ("vector", "update", "maskgen")
        return {getattr(self.routes, r) for r in routes} - {UNTIMED}

    def _private_buffers(self, memory: MemoryConfig) -> None:
        """A private buffer belongs to a unit, and every unit using its roles is that one:
        another unit's instances would have no buffer for that operand."""
        for name, buffer in memory.buffers.items():
            owner = buffer.private_to
            if owner is None:
                continue
            where = ("memory", "buffers", name, "private_to")
            if owner not in self.units:
                raise invalid(where, f"no unit {owner!r} (units: {', '.join(self.units)})",
                              owner)
            for role in buffer.holds:
                others = sorted(self.users(role) - {owner})
                if others:
                    raise invalid(where, f"{name} holds {role} for the instances of {owner} "
                                  f"only, so unit {others[0]} has no buffer for its {role}: "
                                  "share the buffer (private_to: null) or move "
                                  f"{role} to a buffer of its own", owner)

    @property
    def dma_queues(self) -> int:
        """DMA queues: one, or one per instance of the MAC engine (``memory.dram.dma``)."""
        private = self.memory != "ideal" and self.memory.dram.dma == "private"
        return self.engine.count if private else 1

    @property
    def engine(self) -> SystolicUnit | MmaUnit:
        """The MAC engine the GEMMs are routed to."""
        return self.units[self.routes.FF]

    @property
    def scalesim_timing(self) -> bool:
        """Whether GEMMs are timed in SCALE-Sim's conventions (a systolic engine's
        ``timing: scalesim``)."""
        return getattr(self.engine, "timing", None) == "scalesim"

    def unit_for(self, route: str) -> UnitConfig | None:
        """The unit serving ``route``'s records (a :class:`Routes` field); None: untimed."""
        return self.units.get(getattr(self.routes, route))

    @property
    def maskgen(self) -> MaskGenUnit | None:
        """The mask generator (SAT's SORE), if masks are made on one."""
        unit = self.unit_for("maskgen")
        return unit if isinstance(unit, MaskGenUnit) else None

    @property
    def vector(self) -> VectorUnit | None:
        """The vector unit, if vector work, updates or masks are timed on it."""
        for route in ("vector", "update", "maskgen"):
            unit = self.unit_for(route)
            if isinstance(unit, VectorUnit):
                return unit
        return None

    def pattern_problem(self, pattern) -> str | None:
        """Why the MAC engine cannot run the N:M ``pattern`` (None: it can)."""
        support = self.engine.sparsity
        if support.supports(pattern):
            return None
        return f"{pattern}: the MAC engine ({self.routes.FF}) runs {support.describe()} only"

    @property
    def pes(self) -> int:
        """PEs (MAC lanes) of the MAC engine, all its instances."""
        return self.engine.pes * self.engine.count
