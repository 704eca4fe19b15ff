"""The unit kinds a machine is built of, as its YAML describes them.

A machine lists its units by name under ``units:``; each names its ``kind`` (one of
:data:`KINDS`), a ``count`` of identical instances and the kind's parameters. Routes (see
:class:`satsim.config.hardware.Routes`) say which unit serves which records. A kind is one
pydantic model here, registered in :data:`KINDS`; its cost interface lives in
:mod:`satsim.machine.costs`, and its actions and static power, which energy tables price, are
declared here (:attr:`_Unit.ENERGY`), beside the memories' (:data:`MEMORIES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from satsim.types import NMPattern

# Documented limits: far beyond any accelerator studied, small enough that a typo (an extra
# zero, a stray exponent) is an error rather than an hour-long run.
MAX_PES_PER_SIDE = 4096
MAX_M = 64
MAX_LANES = 4096
MAX_COUNT = 1024


class Frozen(BaseModel):
    # strict: a YAML `true` is not the number 1, nor "16" the number 16.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def invalid(where: tuple[str, ...], why: str, value: object) -> ValidationError:
    """A validation error at the field ``where`` of the model being validated: a check
    across fields (a route naming a unit) still names the field at fault."""
    return ValidationError.from_exception_data("machine", [InitErrorDetails(
        type=PydanticCustomError("machine", "{why}", {"why": why}), loc=where, input=value)])


# A family of N:M patterns a MAC engine runs: "2:4" (that pattern), "N:4" (any N < 4 with
# groups of 4), "N:M" (any pattern whose M is at most max_m).
ANY = "N:M"


class NMSupport(Frozen):
    """Which N:M patterns a MAC engine's operand selection runs (dense always runs)."""

    patterns: list[str] = Field(
        default_factory=lambda: [ANY],
        description="what the operand muxes select: each 'n:m' (that pattern, e.g. 2:4), "
                    "'N:m' (any N < m for groups of m, e.g. N:4) or 'N:M' (any pattern with "
                    "M <= max_m); none: a dense engine")
    max_m: int | None = Field(default=None, ge=2, le=MAX_M,
                              description="largest group size M of the 'N:M' family")
    transposed_mask: bool = Field(
        default=False,
        description="whether it can use a weight's mask transposed (one transposable N:M "
                    "mask for FF and BP, Hubara et al., NeurIPS 2021); satsim's recipes build "
                    "BP's mask apart (BDWP), so no run reads it yet")

    @field_validator("patterns", mode="before")
    @classmethod
    def _quoted(cls, patterns: object) -> object:
        for value in patterns if isinstance(patterns, list) else ():
            if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
                # YAML 1.1 (PyYAML) reads digits:digits as a base-60 integer.
                text = f"{value // 60}:{value % 60}"
                raise ValueError(f"YAML reads an unquoted {text} as the base-60 number "
                                 f"{value}: quote it, \"{text}\"")
        return patterns

    @field_validator("patterns")
    @classmethod
    def _readable(cls, patterns: list[str]) -> list[str]:
        if len(set(patterns)) < len(patterns):
            raise ValueError("a pattern listed twice")
        for text in patterns:
            if text == ANY:
                continue
            n, sep, m = text.partition(":")
            if not sep or not m.isascii() or not m.isdigit() or not (
                    n == "N" or (n.isascii() and n.isdigit())):
                raise ValueError(f"{text!r}: expected 'n:m' (e.g. 2:4), 'N:m' (e.g. N:4) or "
                                 "'N:M' (with max_m)")
            if not 2 <= int(m) <= MAX_M or (n != "N" and not 1 <= int(n) < int(m)):
                raise ValueError(f"{text!r}: needs 1 <= n < m <= {MAX_M}")
        return patterns

    @model_validator(mode="after")
    def _max_m_with_the_family(self) -> NMSupport:
        if (ANY in self.patterns) != (self.max_m is not None):
            raise ValueError("'N:M' needs max_m, and max_m bounds only 'N:M': give both or "
                             "neither (to list patterns instead, set max_m: null too)")
        return self

    def supports(self, pattern: NMPattern | None) -> bool:
        """Whether the engine runs ``pattern`` (dense, None, always)."""
        if pattern is None:
            return True
        return any(text == f"{pattern.n}:{pattern.m}" or text == f"N:{pattern.m}"
                   or (text == ANY and pattern.m <= self.max_m) for text in self.patterns)

    def describe(self) -> str:
        """The patterns it runs, for messages: ``2:4``, ``N:4``, ``N:M with M <= 16``,
        ``dense``."""
        return ", ".join(f"N:M with M <= {self.max_m}" if text == ANY else text
                         for text in self.patterns) or "dense"


class Price(StrEnum):
    """What an action's price is per, as an energy table writes it (satsim.energy.table)."""

    PJ = "pj"  # pJ per action: {pj: ..., source: ...}
    PJ_BY_FORMAT = "pj_by_format"  # pJ per action, per datapath formats: {fp16/fp32: {pj: ...}}
    PJ_PER_BIT = "pj_per_bit"  # pJ per bit moved; the schedule counts bytes
    PJ_PER_BIT_BY_KIB = "pj_per_bit_by_kib"  # pJ per bit, by the bank's capacity in KiB


@dataclass(frozen=True)
class Action:
    """An action a component does, which every energy table prices (or marks n/a)."""

    price: Price
    description: str
    counts: tuple[str, ...] = ()  # the schedule's counts it prices; empty: its own name

    def counted(self, name: str) -> tuple[str, ...]:
        """The schedule's counts this action, declared as ``name``, prices."""
        return self.counts or (name,)


@dataclass(frozen=True)
class Component:
    """What costs energy in a component: its actions, and what its static power is per (a
    table's ``static: {mw_per_<per>: ...}``)."""

    actions: dict[str, Action]
    static_per: str


# A MAC engine's actions (satsim.schedule.actions counts them).
MAC_ACTIONS = {
    "mac": Action(Price.PJ_BY_FORMAT, "one multiply-accumulate, per 'operand/accumulate' "
                                      "formats (e.g. fp16/fp32); formats absent: MACs not "
                                      "priced"),
    "mac_gated": Action(Price.PJ, "a MAC slot of a fold that does no work"),
    "mux_select": Action(Price.PJ, "an N:M MAC's M:1 operand multiplexer select"),
    "index_read": Action(Price.PJ, "an N:M MAC's read of its weight's index"),
}

# The memories: priced like the kinds, but no unit kinds (the hardware's memory: has them).
MEMORIES = {
    "dram": Component({"read": Action(Price.PJ_PER_BIT, "a bit read from DRAM",
                                      counts=("read_bytes",)),
                       "write": Action(Price.PJ_PER_BIT, "a bit written to DRAM",
                                       counts=("write_bytes",))}, static_per="channel"),
    "sram": Component({"access": Action(Price.PJ_PER_BIT_BY_KIB,
                                        "a bit read or written in a buffer, by the capacity "
                                        "of its bank", counts=("read_bytes", "write_bytes"))},
                      static_per="kib"),
}


class _Unit(Frozen):
    # What the kind's instances do that costs energy: every energy table prices it.
    ENERGY: ClassVar[Component]

    count: PositiveInt = Field(default=1, le=MAX_COUNT, description="identical instances")

    def static_count(self) -> int:
        """How many of ``ENERGY.static_per`` one instance has (its PEs, its lanes)."""
        raise NotImplementedError


class SystolicUnit(_Unit):
    """A systolic array of PEs (SAT's STCE): GEMMs as folds, timed by closed forms proven
    against the cycle-stepped array reference."""

    kind: Literal["systolic"]
    rows: PositiveInt = Field(le=MAX_PES_PER_SIDE,
                              description="PE rows (reduction lanes in WS, output rows in OS)")
    cols: PositiveInt = Field(le=MAX_PES_PER_SIDE, description="PE columns (output columns)")
    timing: Literal["satsim", "scalesim"] = Field(
        default="satsim",
        description="cycle-count conventions: 'satsim' (the STCE micro-architecture, proven "
                    "against its cycle-stepped reference) or 'scalesim' (SCALE-Sim 3.0.0's "
                    "compute cycles, for parity with its numbers; docs/scalesim.md)")
    sparsity: NMSupport = Field(description="the N:M patterns its operand muxes run")

    ENERGY: ClassVar[Component] = Component(MAC_ACTIONS, static_per="pe")

    @property
    def pes(self) -> int:
        """PEs of one instance."""
        return self.rows * self.cols

    def static_count(self) -> int:
        return self.pes


class MmaUnit(_Unit):
    """A tensor-core-style matrix unit: each issue computes one ``m x n x k`` fragment,
    ``k`` reduction slots of its weight operand (dense: k of K; N:M: k kept weights, the
    activations selected by their metadata), timed by the closed forms of
    :mod:`satsim.machine.mma` proven against its cycle-stepped reference."""

    kind: Literal["mma"]
    m: PositiveInt = Field(le=MAX_PES_PER_SIDE, description="output rows of a fragment")
    n: PositiveInt = Field(le=MAX_PES_PER_SIDE, description="output columns of a fragment")
    k: PositiveInt = Field(le=MAX_PES_PER_SIDE,
                           description="reduction slots of a fragment (N:M: kept weights)")
    cycles_per_issue: PositiveInt = Field(
        le=MAX_LANES, description="cycles between two issues (the initiation interval)")
    latency_cycles: PositiveInt = Field(
        le=MAX_LANES, description="cycles from an issue to its result (at least "
                                  "cycles_per_issue)")
    sparsity: NMSupport = Field(description="the N:M patterns its metadata selects")

    ENERGY: ClassVar[Component] = Component(MAC_ACTIONS, static_per="pe")

    @model_validator(mode="after")
    def _latency_covers_the_interval(self) -> MmaUnit:
        if self.latency_cycles < self.cycles_per_issue:
            raise invalid(("latency_cycles",), "an issue's result cannot come before the "
                          f"next issue may start: latency_cycles >= cycles_per_issue "
                          f"({self.cycles_per_issue})", self.latency_cycles)
        return self

    @property
    def pes(self) -> int:
        """MAC lanes of one instance: a fragment's products per cycle of its interval."""
        return self.m * self.n * self.k // self.cycles_per_issue

    def static_count(self) -> int:
        return self.pes


class MaskGenUnit(_Unit):
    """A mask generator (SAT's SORE): top-n selection over groups of m weights on lanes."""

    kind: Literal["maskgen"]
    lanes: PositiveInt = Field(le=MAX_LANES, description="parallel top-k lanes")

    ENERGY: ClassVar[Component] = Component(
        {"compare": Action(Price.PJ, "a weight compared against a kept one")}, static_per="lane")

    def static_count(self) -> int:
        return self.lanes


class VectorUnit(_Unit):
    """A vector / weight-update unit (SAT's WUVE): lanes and what each operation costs."""

    kind: Literal["vector"]
    lanes: PositiveInt = Field(le=MAX_LANES, description="parallel lanes")
    cycles_per_element: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="cycles one lane spends per output element of each vector operation "
                    "(the trace's op names: relu, batchnorm, softmax, add, ...)")
    update_cycles_per_parameter: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="cycles one lane spends per parameter of an update: per optimizer "
                    "(sgd, sgd-momentum, adamw) and 'recast' for writing the low-precision copy")

    ENERGY: ClassVar[Component] = Component(
        {"lane_op": Action(Price.PJ, "a lane's cycle of vector work"),
         "update_lane_op": Action(Price.PJ, "a lane's cycle of a weight update")},
        static_per="lane")

    def static_count(self) -> int:
        return self.lanes


# The registry: a kind's name -> its model. The YAML's `kind:` picks one.
KINDS: dict[str, type[_Unit]] = {"systolic": SystolicUnit, "mma": MmaUnit,
                                 "maskgen": MaskGenUnit, "vector": VectorUnit}
# The kinds that run GEMMs.
MAC_KINDS = ("systolic", "mma")


def _kind(value: object) -> str | None:
    """The model of a unit's ``kind`` (its class name: reports leave it out of locations)."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    model = KINDS.get(kind) if isinstance(kind, str) else None
    return None if model is None else model.__name__


UnitConfig = Annotated[
    Annotated[SystolicUnit, Tag("SystolicUnit")] | Annotated[MmaUnit, Tag("MmaUnit")]
    | Annotated[MaskGenUnit, Tag("MaskGenUnit")]
    | Annotated[VectorUnit, Tag("VectorUnit")],
    Discriminator(_kind, custom_error_type="unit_kind",
                  custom_error_message="kind: expected one of " + ", ".join(KINDS))]
