"""A run priced: energy = Σ count × price + Σ static power × time.

The run's action counts (per record, per unit and action, :mod:`satsim.schedule.actions`) are
priced with the hardware's energy table, and every unit the hardware has leaks its static
power over the whole iteration. Arithmetic is exact (:class:`fractions.Fraction`, each price
read as the decimal written in the table), so every breakdown sums exactly to the total
(:class:`ExactJoules`); what users read (:class:`EnergyBreakdown`, the JSON, the frames) are
floats, each rounded once from those sums.

A term whose price is ``null`` (not modelled) and that occurred (a non-zero count, or a unit
the hardware has) is *excluded*: left out of every sum and named in :attr:`excluded`. A
bucket (a unit, a phase, a layer, an op) whose every term is excluded is ``None`` (n/a), not 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING

from satsim.energy.table import EnergyTable, load_energy_table

if TYPE_CHECKING:
    from satsim.config.hardware import HardwareConfig
    from satsim.report.result import RunResult

PJ = Fraction(1, 10**12)  # joules per pJ
MJ = Fraction(1, 10**3)  # joules per mJ (mW x s)
STATIC = "static"  # the static-power bucket of the phase and layer breakdowns
EVERY_TERM = "every term priced"  # the coverage of a complete breakdown


def exact(value: float) -> Fraction:
    """A table's number as the decimal it was written as (0.1 is 1/10, not its float)."""
    return Fraction(repr(float(value)))


class _Bucket:
    """A sum of priced terms; ``None`` when every term that occurred was excluded."""

    __slots__ = ("priced", "total")

    def __init__(self):
        self.total, self.priced = Fraction(0), False

    def add(self, joules: Fraction | None) -> None:
        if joules is not None:
            self.total += joules
            self.priced = True

    @property
    def value(self) -> Fraction | None:
        return self.total if self.priced else None


@dataclass(frozen=True)
class ExactJoules:
    """A run's energy in exact joules (:class:`fractions.Fraction`).

    Each of ``by_unit``, ``by_phase``, ``by_layer`` sums exactly to ``total`` (``None``
    entries: n/a), and so do the ops' energies plus ``static``: the tests check the
    accounting on these, before any rounding.
    """

    total: Fraction
    by_unit: dict[str, Fraction | None]
    by_phase: dict[str, Fraction | None]
    by_layer: dict[str, Fraction | None]
    by_op: dict[int, dict[str, Fraction | None]]  # record index -> unit -> J
    static: dict[str, Fraction | None]  # unit -> static J over the iteration

    def op_energy(self, index: int) -> Fraction | None:
        """A record's dynamic energy (None: every term of it excluded, or it did nothing)."""
        bucket = _Bucket()
        for joules in self.by_op.get(index, {}).values():
            bucket.add(joules)
        return bucket.value


@dataclass(frozen=True)
class EnergyBreakdown:
    """One run's energy in joules, broken down per unit, phase, layer and op.

    ``by_unit`` holds each unit's dynamic plus static energy; ``by_phase`` and ``by_layer``
    hold the dynamic energy of their records and one :data:`STATIC` entry (leakage over the
    iteration belongs to no record); ``by_op`` the dynamic energy of each record, per unit.
    Every value is a float (``None``: n/a, every term of it unpriced), each rounded once from
    the exact sums in :attr:`exact`; only priced terms are summed, so unless
    :attr:`complete`, :attr:`energy_j` is a part of the iteration's energy (:attr:`coverage`).
    """

    table: str  # the table's name
    table_file: str
    exact: ExactJoules = field(repr=False)
    excluded: dict[str, str] = field(default_factory=dict)  # term -> why it is not priced
    prices: dict[str, float | None] = field(default_factory=dict)  # term -> price used

    @property
    def energy_j(self) -> float:
        """The priced energy of the iteration in J."""
        return float(self.exact.total)

    @cached_property
    def by_unit(self) -> dict[str, float | None]:
        return _floats(self.exact.by_unit)

    @cached_property
    def by_phase(self) -> dict[str, float | None]:
        return _floats(self.exact.by_phase)

    @cached_property
    def by_layer(self) -> dict[str, float | None]:
        return _floats(self.exact.by_layer)

    @cached_property
    def static(self) -> dict[str, float | None]:
        return _floats(self.exact.static)

    @cached_property
    def by_op(self) -> dict[int, dict[str, float | None]]:
        return {index: _floats(units) for index, units in self.exact.by_op.items()}

    def op_energy(self, index: int) -> float | None:
        """A record's dynamic energy in J (None: every term of it excluded, or it did
        nothing)."""
        joules = self.exact.op_energy(index)
        return None if joules is None else float(joules)

    @property
    def complete(self) -> bool:
        """Whether every term that occurred is priced."""
        return not self.excluded

    @property
    def coverage(self) -> str:
        """What :attr:`energy_j` covers, in a few words (:func:`coverage`)."""
        return coverage(self.prices)

    def to_json(self) -> dict:
        return {
            "table": self.table, "table_file": self.table_file, "complete": self.complete,
            "coverage": self.coverage, "by_unit": dict(self.by_unit),
            "by_phase": dict(self.by_phase), "by_layer": dict(self.by_layer),
            "static": dict(self.static),
            "excluded": list(self.excluded), "excluded_why": dict(self.excluded),
            "prices": dict(self.prices),
        }


def _floats(values: dict[str, Fraction | None]) -> dict[str, float | None]:
    return {k: None if v is None else float(v) for k, v in values.items()}


_UNIT_NAMES = {"stce": "STCE", "sore": "SORE", "vector": "vector unit", "dram": "DRAM"}


def coverage(prices: dict[str, float | None]) -> str:
    """What a run's priced total covers, from every term that occurred and its price
    (``None``: not priced), e.g. ``"every term priced"``, ``"DRAM only; 26 of 28 terms n/a"``
    or ``"7 of 28 terms n/a: static power of SORE, 5 buffers, DRAM"``."""
    missing = [term for term, price in prices.items() if price is None]
    if not missing:
        return EVERY_TERM
    counted = f"{len(missing)} of {len(prices)} terms n/a"
    priced = [term for term, price in prices.items() if price is not None]
    if not priced:
        return f"nothing priced; {counted}"
    if all(t.endswith(f".{STATIC}") for t in missing):
        return f"{counted}: static power of {_unit_names(missing)}"
    if {_unit(t) for t in priced} != {_unit(t) for t in prices}:
        return f"{_unit_names(priced)} only; {counted}"
    return counted


def same_terms_priced(a: EnergyBreakdown, b: EnergyBreakdown) -> bool:
    """Whether two runs' totals sum the same terms (by unit and action), so that comparing
    them compares like with like: no term is priced in one run and n/a in the other. A term
    only one run incurred adds nothing to the other's total, priced or not."""
    return all((a.prices[t] is None) == (b.prices[t] is None)
               for t in a.prices.keys() & b.prices.keys())


def _unit(term: str) -> str:
    return term.rsplit(".", 1)[0]


def _unit_names(terms: Iterable[str]) -> str:
    """The units of ``terms``, named in the breakdowns' order, the buffers counted."""
    found = _unit_order({_unit(t) for t in terms})
    buffers = [u for u in found if u.startswith("buffer:")]
    names = []
    for unit in found:
        if not unit.startswith("buffer:"):
            names.append(_UNIT_NAMES.get(unit, unit))
        elif unit == buffers[0]:
            names.append(f"{len(buffers)} buffer{'s' if len(buffers) > 1 else ''}")
    return ", ".join(names)


class _Pricer:
    """Prices of one hardware's actions (per action, or per byte for data movement), and why
    a term is not priced."""

    def __init__(self, hw: HardwareConfig, table: EnergyTable):
        self.hw, self.table = hw, table
        self.why: dict[str, str] = {}
        self.used: dict[str, float | None] = {}
        self._cache: dict[tuple[str, str], Fraction | None] = {}
        self.banks: dict[str, float] = {}  # buffer unit -> bank KiB
        self.capacity: dict[str, float] = {}  # buffer unit -> KiB
        if hw.memory != "ideal":
            from satsim.schedule.tiling import slots

            for slot in slots(hw.memory).values():
                self.banks[f"buffer:{slot.buffer}"] = slot.bytes / 1024
                self.capacity[f"buffer:{slot.buffer}"] = slot.bytes * slot.slots / 1024

    def per_action(self, unit: str, action: str) -> Fraction | None:
        """pJ per counted action (data movement: per byte); None when not priced."""
        key = (unit, action)
        if key not in self._cache:
            self._cache[key] = self._price(unit, action)
        return self._cache[key]

    def _price(self, unit: str, action: str) -> Fraction | None:
        t, term = self.table, f"{unit}.{action}"
        price, why, per_byte = None, None, False
        if unit == "stce" and action == "mac":
            pair = f"{self.hw.numerics.operand}/{self.hw.numerics.accumulate}"
            entry = t.stce.mac.get(pair)
            if entry is None:
                why = f"the table has no price for {pair} MACs"
            else:
                price, why = entry.pj, entry.source
        elif unit in ("stce", "sore", "vector") and action in type(getattr(t, unit)).model_fields:
            entry = getattr(getattr(t, unit), action)
            price, why = entry.pj, entry.source
        elif unit == "dram" and action in ("read_bytes", "write_bytes"):
            entry = t.dram.read if action == "read_bytes" else t.dram.write
            override = self.hw.energy.dram_pj_per_bit if self.hw.energy is not None else None
            price = entry.pj_per_bit if override is None else override
            why, per_byte = entry.source, True
        elif unit in self.banks and action in ("read_bytes", "write_bytes"):
            price = t.sram.access.at(self.banks[unit])
            why, per_byte = t.sram.access.source, True
        else:
            why = "the table has no entry for this action"
        self.used[term] = price
        if price is None:
            self.why[term] = why
            return None
        return exact(price) * (8 if per_byte else 1)

    def static_mw(self) -> dict[str, Fraction | None]:
        """Static power of every unit the hardware has, in mW (None: not priced)."""
        t, hw = self.table, self.hw
        found: dict[str, tuple[float | None, str, float]] = {
            "stce": (t.stce.static.mw_per_pe, t.stce.static.source, hw.pes)}
        if hw.sore is not None:
            found["sore"] = (t.sore.static.mw_per_lane, t.sore.static.source, hw.sore.lanes)
        if hw.vector is not None:
            found["vector"] = (t.vector.static.mw_per_lane, t.vector.static.source,
                               hw.vector.lanes)
        for unit, kib in self.capacity.items():
            found[unit] = (t.sram.static.mw_per_kib, t.sram.static.source, kib)
        if hw.memory != "ideal":
            found["dram"] = (t.dram.static.mw_per_channel, t.dram.static.source,
                             hw.memory.dram.channels)
        power = {}
        for unit, (each, source, count) in found.items():
            term = f"{unit}.{STATIC}"
            self.used[term] = each
            if each is None:
                self.why[term] = source
                power[unit] = None
            else:
                power[unit] = exact(each) * exact(count)
        return power


def _unit_order(units: Iterable[str]) -> list[str]:
    rank = {"stce": 0, "sore": 1, "vector": 2, "dram": 4}
    return sorted(units, key=lambda u: rank.get(u, 3))  # stable: buffers keep their order


def price_run(result: RunResult, hw: HardwareConfig,
              table: EnergyTable | None = None) -> EnergyBreakdown | None:
    """Price ``result`` (a run on ``hw``) with ``table`` (default: the hardware's
    ``energy.table``); None when the hardware names no table (``energy: null``)."""
    if table is None:
        if hw.energy is None:
            return None
        table = load_energy_table(hw.energy.table)
    table_file = "" if hw.energy is None else hw.energy.table
    pricer = _Pricer(hw, table)
    units: dict[str, _Bucket] = {}
    phases: dict[str, _Bucket] = {}
    layers: dict[str, _Bucket] = {}
    by_op: dict[int, dict[str, Fraction | None]] = {}
    for row in result.rows:
        per_unit: dict[str, _Bucket] = {}
        for unit, counts in result.actions.get(row["index"], {}).items():
            for action, count in counts.items():
                if count == 0:
                    continue
                price = pricer.per_action(unit, action)
                per_unit.setdefault(unit, _Bucket()).add(
                    None if price is None else price * count)
        by_op[row["index"]] = mine = {
            u: None if b.value is None else b.value * PJ for u, b in per_unit.items()}
        for unit, joules in mine.items():  # each op's unit once: fewer exact additions
            for bucket in (units.setdefault(unit, _Bucket()),
                           phases.setdefault(row["phase"], _Bucket()),
                           layers.setdefault(row["layer"], _Bucket())):
                bucket.add(joules)
    seconds = Fraction(result.cycles) / (exact(result.clock_mhz) * 10**6)
    static: dict[str, Fraction | None] = {}
    static_bucket = _Bucket()
    for unit, mw in pricer.static_mw().items():
        joules = None if mw is None else mw * seconds * MJ
        static[unit] = joules
        units.setdefault(unit, _Bucket()).add(joules)
        static_bucket.add(joules)
    total = sum((b.total for b in units.values()), Fraction(0))
    from satsim.report.result import PHASES

    by_phase = {p: phases[p].value for p in PHASES if p in phases}
    by_phase |= {p: b.value for p, b in phases.items() if p not in by_phase}
    by_layer = {name: b.value for name, b in layers.items()}
    if static:
        by_phase[STATIC] = by_layer[STATIC] = static_bucket.value
    sums = ExactJoules(total=total, by_unit={u: units[u].value for u in _unit_order(units)},
                       by_phase=by_phase, by_layer=by_layer, by_op=by_op, static=static)
    return EnergyBreakdown(table=table.name, table_file=table_file, exact=sums,
                           excluded=dict(sorted(pricer.why.items())),
                           prices=dict(sorted(pricer.used.items())))
