"""Energy tables: what each counted action costs, and each unit's static power.

A table is a YAML file (``configs/energy/<name>.yaml``, or any file) validated into a frozen
:class:`EnergyTable`. Every price names its unit in its key (``pj`` per action,
``pj_per_bit``, ``mw_per_pe``, ...) and carries a ``source``: the public paper or datasheet
it comes from, or, for ``null``, why it is not priced. ``null`` means *not modelled*: the
term is left out of the total and listed as excluded, never counted as 0.

The actions are the simulator's (:mod:`satsim.schedule.actions`): ``stce`` (``mac``,
``mac_gated``, ``mux_select``, ``index_read``), ``sore`` (``compare``), ``vector``
(``lane_op``, ``update_lane_op``), ``dram`` (``read``/``write`` per bit) and the on-chip
buffers (``sram``: per bit read or written, by bank capacity, interpolated log-log).
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from satsim.yaml_input import read_yaml, validate

FORMATS = ("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32")
# A key that looks like an energy or power unit: pj, fj, nj, uj, mj, j, mw, w, pj_per_bit, ...
_UNIT_KEY = re.compile(r"(?:[fpnum]?j|[num]?w)(?:_per_\w+)?")

NonNegative = Field(ge=0, allow_inf_nan=False)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Price(_Frozen):
    """A price in one unit (the subclass's only number field) and where it comes from."""

    source: str = Field(min_length=1, description="the public paper or datasheet the value "
                                                  "comes from (for null: why it is not priced)")

    @model_validator(mode="before")
    @classmethod
    def _right_unit(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unit = cls.unit()
            for key in data:
                if key not in (unit, "source") and isinstance(key, str) and _UNIT_KEY.fullmatch(
                        key):
                    raise ValueError(f"wrong unit {key!r}: this price is in {unit!r}")
        return data

    @classmethod
    def unit(cls) -> str:
        return next(name for name in cls.model_fields if name != "source")

    @property
    def value(self) -> float | None:
        return getattr(self, self.unit())


class ActionPrice(_Price):
    """Energy of one action, in pJ."""

    pj: float | None = Field(ge=0, allow_inf_nan=False, description="pJ per action")


class BitPrice(_Price):
    """Energy per bit moved, in pJ."""

    pj_per_bit: float | None = Field(ge=0, allow_inf_nan=False, description="pJ per bit")


class PePower(_Price):
    """Static (leakage) power of one PE, in mW."""

    mw_per_pe: float | None = Field(ge=0, allow_inf_nan=False, description="mW per PE")


class LanePower(_Price):
    """Static power of one lane, in mW."""

    mw_per_lane: float | None = Field(ge=0, allow_inf_nan=False, description="mW per lane")


class KibPower(_Price):
    """Static power of on-chip memory, in mW per KiB of capacity."""

    mw_per_kib: float | None = Field(ge=0, allow_inf_nan=False, description="mW per KiB")


class ChannelPower(_Price):
    """Static (background) power of one DRAM channel, in mW."""

    mw_per_channel: float | None = Field(ge=0, allow_inf_nan=False,
                                         description="mW per channel")


class SramCurve(_Price):
    """Energy per bit read or written by bank capacity (KiB), interpolated log-log."""

    pj_per_bit_by_kib: dict[PositiveInt, float] | None = Field(
        description="pJ per bit read or written, at each bank capacity in KiB")

    @field_validator("pj_per_bit_by_kib")
    @classmethod
    def _points(cls, points: dict[int, float] | None) -> dict[int, float] | None:
        if points is None:
            return None
        if not points:
            raise ValueError("give at least one capacity, or null")
        for kib, pj in points.items():
            if not math.isfinite(pj) or pj <= 0:
                raise ValueError(f"the price at {kib} KiB must be a positive number (log-log "
                                 "interpolation)")
        return dict(sorted(points.items()))

    def at(self, kib: float) -> float | None:
        """pJ per bit of a bank of ``kib`` KiB: log-log linear between the two neighbouring
        capacities; beyond the first or last, the nearest segment's line (one point: that
        price)."""
        points = self.pj_per_bit_by_kib
        if points is None:
            return None
        caps = list(points)
        if kib in points:
            return points[kib]
        if len(caps) == 1:
            return points[caps[0]]
        i = max(1, min(len(caps) - 1, sum(c < kib for c in caps)))
        (x0, y0), (x1, y1) = (caps[i - 1], points[caps[i - 1]]), (caps[i], points[caps[i]])
        slope = math.log(y1 / y0) / math.log(x1 / x0)
        return y0 * math.exp(slope * math.log(kib / x0))


class StceTable(_Frozen):
    """The PE array."""

    mac: dict[str, ActionPrice] = Field(
        min_length=1, description="one multiply-accumulate, per 'operand/accumulate' formats "
                                  "(e.g. fp16/fp32); formats absent: MACs not priced")
    mac_gated: ActionPrice = Field(description="a MAC slot of a fold that does no work")
    mux_select: ActionPrice = Field(description="an N:M MAC's M:1 operand multiplexer select")
    index_read: ActionPrice = Field(description="an N:M MAC's read of its weight's index")
    static: PePower

    @field_validator("mac")
    @classmethod
    def _format_pairs(cls, mac: dict[str, ActionPrice]) -> dict[str, ActionPrice]:
        for key in mac:
            operand, sep, accumulate = key.partition("/")
            if not sep or operand not in FORMATS or accumulate not in FORMATS:
                raise ValueError(f"{key!r}: expected 'operand/accumulate' formats, each one of "
                                 f"{', '.join(FORMATS)}")
        return mac


class SoreTable(_Frozen):
    """The mask generator."""

    compare: ActionPrice = Field(description="a weight compared against a kept one")
    static: LanePower


class VectorTable(_Frozen):
    """The vector / weight-update unit."""

    lane_op: ActionPrice = Field(description="a lane's cycle of vector work")
    update_lane_op: ActionPrice = Field(description="a lane's cycle of a weight update")
    static: LanePower


class DramTable(_Frozen):
    """Off-chip memory."""

    read: BitPrice
    write: BitPrice
    static: ChannelPower


class SramTable(_Frozen):
    """The on-chip buffers."""

    access: SramCurve = Field(description="a bit read or written, by bank capacity")
    static: KibPower


class EnergyTable(_Frozen):
    """Prices of every counted action and the static power of every unit."""

    name: str = Field(min_length=1, description="table name shown in reports")
    description: str = Field(min_length=1, description="technology, voltage, what it models")
    stce: StceTable
    sore: SoreTable
    vector: VectorTable
    dram: DramTable
    sram: SramTable


def shipped_tables() -> dict[str, Path]:
    """The shipped tables by name (``configs/energy/<name>.yaml``)."""
    from satsim.resources import shipped

    return shipped("configs/energy", (".yaml", ".yml"))


def resolve_table(spec: str | Path, relative_to: Path | None = None) -> Path:
    """A table's file: a shipped table's name, or a YAML path (found in ``relative_to``, the
    folder of the hardware file naming it, first), by the rule of
    :func:`satsim.resources.find`."""
    from satsim.resources import find

    return find(spec, shipped_tables(), "energy table", beside=relative_to)


def load_energy_table(spec: str | Path, relative_to: Path | None = None) -> EnergyTable:
    """Load and validate a table (a shipped name or a YAML file); errors name the table's file
    and field. Cached by (path, size, modification time)."""
    path = resolve_table(spec, relative_to)
    info = path.stat()
    return _load(str(path), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _load(path: str, size: int, mtime_ns: int) -> EnergyTable:
    return validate(EnergyTable, read_yaml(Path(path)), Path(path))
