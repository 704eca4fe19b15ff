"""Energy tables: what each declared action costs, and each component's static power.

A table is a YAML file (``configs/energy/<name>.yaml``, or any file) validated into a frozen
:class:`EnergyTable`, keyed by component and action as Accelergy's energy reference tables
are. Its components are the unit kinds (:data:`satsim.config.units.KINDS`) and the memories
(``dram``, ``sram``); each maps every action its declaration lists
(:class:`satsim.config.units.Component`) to a price, plus its ``static`` power. The schema is
made from those declarations: a new kind needs no code here, and every table must then price
its actions (or say why not). A component missing from a table, an action missing from one,
and an action no declaration lists are errors naming the table's file and field.

Every price names its unit in its key (``pj`` per action, ``pj_per_bit``, ``mw_per_pe``, ...)
and carries a ``source``: the public paper or datasheet it comes from, or, for ``null``, why it
is not priced. ``null`` means *not modelled*: the term is left out of the total and listed as
excluded, never counted as 0.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    create_model,
    field_validator,
    model_validator,
)

from satsim.config.units import KINDS, MEMORIES, Component, Price, invalid
from satsim.yaml_input import read_yaml, validate

FORMATS = ("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32")
# A key that looks like an energy or power unit: pj, fj, nj, uj, mj, j, mw, w, pj_per_bit, ...
_UNIT_KEY = re.compile(r"(?:[fpnum]?j|[num]?w)(?:_per_\w+)?")


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


def _format_pairs(prices: dict[str, ActionPrice]) -> dict[str, ActionPrice]:
    for key in prices:
        operand, sep, accumulate = key.partition("/")
        if not sep or operand not in FORMATS or accumulate not in FORMATS:
            raise ValueError(f"{key!r}: expected 'operand/accumulate' formats, each one of "
                             f"{', '.join(FORMATS)}")
    return prices


# Each way of pricing an action (:class:`~satsim.config.units.Price`): its table entry.
PRICE_ENTRIES: dict[Price, Any] = {
    Price.PJ: ActionPrice,
    Price.PJ_BY_FORMAT: Annotated[dict[str, ActionPrice], Field(min_length=1),
                                  AfterValidator(_format_pairs)],
    Price.PJ_PER_BIT: BitPrice,
    Price.PJ_PER_BIT_BY_KIB: SramCurve,
}


# A table's sections before tables were keyed by kind (named by unit), and their kinds.
_RENAMED = {"stce": "systolic", "sore": "maskgen"}


class _Declared(_Frozen):
    """A mapping of declared keys (its fields): another key is an error saying which are."""

    @model_validator(mode="before")
    @classmethod
    def _only_declared(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if key not in cls.model_fields:
                    raise invalid((key,), cls._unknown(key), value)
        return data

    @classmethod
    def _unknown(cls, key: str) -> str:
        raise NotImplementedError


class _Component(_Declared):
    """One component's prices: a field per declared action, and ``static``."""

    @classmethod
    def _unknown(cls, key: str) -> str:
        actions = ", ".join(name for name in cls.model_fields if name != "static")
        return f"not an action it declares ({actions}; and static)"


class EnergyTable(_Declared):
    """Prices of every declared action and the static power of every component. A loaded
    table is of a subclass with a field per component (:func:`schema`): read them with
    :meth:`prices`."""

    name: str = Field(min_length=1, description="table name shown in reports")
    description: str = Field(min_length=1, description="technology, voltage, what it models")

    @classmethod
    def _unknown(cls, key: str) -> str:
        if key in _RENAMED:
            return f"a table is keyed by unit kind now: this is {_RENAMED[key]}"
        names = ", ".join(name for name in cls.model_fields if name not in ("name", "description"))
        return f"no unit kind or memory of that name ({names})"

    def prices(self, component: str) -> _Component | None:
        """The prices of ``component`` (a unit kind or a memory); None: a kind the table
        leaves out."""
        return getattr(self, component)


def components() -> dict[str, Component]:
    """Every component a table prices, by name: each unit kind, then the memories."""
    return {name: model.ENERGY for name, model in KINDS.items()} | MEMORIES


def schema() -> type[EnergyTable]:
    """The model of a table pricing every component declared now (:func:`components`)."""
    return _schema(tuple(KINDS.items()))


@functools.cache
def _schema(kinds: tuple[tuple[str, type], ...]) -> type[EnergyTable]:
    """The table's model for the registry ``kinds`` (the cache's key: a kind registered later,
    as a test does, makes another model)."""
    fields: dict[str, Any] = {}
    for name, component in components().items():
        actions = {action: (PRICE_ENTRIES[a.price], Field(description=a.description))
                   for action, a in component.actions.items()}
        prices = create_model(f"{name.title()}Prices", __base__=_Component, **actions,
                              static=(_power(component.static_per), ...))
        # A kind may be left out: a machine with a unit of that kind then cannot use the
        # table (satsim.config.loader says so); the memories every machine has.
        fields[name] = (prices, ...) if name in MEMORIES else (prices | None, None)
    return create_model("EnergyTableOfKinds", __base__=EnergyTable, **fields)


@functools.cache
def _power(per: str) -> type[_Price]:
    """Static power per ``per`` (a PE, a lane, a KiB, a channel), in mW: ``mw_per_<per>``."""
    value = Field(ge=0, allow_inf_nan=False, description=f"mW per {per}")
    return create_model(f"PowerPer{per.title()}", __base__=_Price,
                        **{f"mw_per_{per}": (float | None, value)})


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
    return _load(str(path), info.st_size, info.st_mtime_ns, schema())


@functools.lru_cache(maxsize=16)
def _load(path: str, size: int, mtime_ns: int, model: type[EnergyTable]) -> EnergyTable:
    return validate(model, read_yaml(Path(path)), Path(path))
