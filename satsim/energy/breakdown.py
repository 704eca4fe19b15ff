"""A run's priced energy: exact sums, and the floats users read, per unit, phase, layer and op.

:class:`ExactJoules` holds the sums in exact joules (:class:`fractions.Fraction`), so every
breakdown sums exactly to the total; :class:`EnergyBreakdown` is what users read (the JSON,
the frames), each float rounded once from those sums. A bucket whose every term is
excluded (its price ``null``: not modelled) is ``None`` (n/a), not 0; :func:`coverage` says
in words what a total covers. The pricing itself is :mod:`satsim.energy.price`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

STATIC = "static"  # the static-power bucket of the phase and layer breakdowns
EVERY_TERM = "every term priced"  # the coverage of a complete breakdown


class Bucket:
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
        bucket = Bucket()
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
    found = unit_order({_unit(t) for t in terms})
    buffers = [u for u in found if u.startswith("buffer:")]
    names = []
    for unit in found:
        if not unit.startswith("buffer:"):
            names.append(_UNIT_NAMES.get(unit, unit))
        elif unit == buffers[0]:
            names.append(f"{len(buffers)} buffer{'s' if len(buffers) > 1 else ''}")
    return ", ".join(names)


def unit_order(units: Iterable[str]) -> list[str]:
    """``units`` in the breakdowns' order: STCE, SORE, vector unit, the buffers, DRAM."""
    rank = {"stce": 0, "sore": 1, "vector": 2, "dram": 4}
    return sorted(units, key=lambda u: rank.get(u, 3))  # stable: buffers keep their order
