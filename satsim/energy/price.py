"""A run priced: energy = Σ count × price + Σ static power × time.

The run's action counts (per record, per unit and action, :mod:`satsim.schedule.actions`) are
priced with the hardware's energy table, and every unit the hardware has leaks its static
power over the whole iteration. Arithmetic is exact (:class:`fractions.Fraction`, each price
read as the decimal written in the table), so every breakdown sums exactly to the total
(:class:`~satsim.energy.breakdown.ExactJoules`); what users read
(:class:`~satsim.energy.breakdown.EnergyBreakdown`, the JSON, the frames) are floats, each
rounded once from those sums.

A term whose price is ``null`` (not modelled) and that occurred (a non-zero count, or a unit
the hardware has) is *excluded*: left out of every sum and named in the breakdown's
``excluded``. A bucket (a unit, a phase, a layer, an op) whose every term is excluded is
``None`` (n/a), not 0.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from satsim.config.units import Price
from satsim.energy.breakdown import STATIC, Bucket, EnergyBreakdown, ExactJoules, unit_order
from satsim.energy.table import ActionPrice, EnergyTable, components, load_energy_table
from satsim.machine.program import Unit
from satsim.report.result import PHASES, RunResult

if TYPE_CHECKING:
    from satsim.config.hardware import HardwareConfig

PJ = Fraction(1, 10**12)  # joules per pJ
MJ = Fraction(1, 10**3)  # joules per mJ (mW x s)


def exact(value: float) -> Fraction:
    """A table's number as the decimal it was written as (0.1 is 1/10, not its float)."""
    return Fraction(repr(float(value)))


class _Pricer:
    """Prices of one hardware's actions (per action, or per byte for data movement), and why
    a term is not priced.

    A count's unit is one of the Program's (:class:`satsim.machine.program.Unit`: the MAC
    engine, the mask generator, the vector unit, DRAM) or a buffer; the component pricing it
    is the kind of the unit instance its route names, ``dram``, or ``sram``."""

    def __init__(self, hw: HardwareConfig, table: EnergyTable):
        self.hw, self.table = hw, table
        self.why: dict[str, str] = {}
        self.used: dict[str, float | None] = {}
        self._cache: dict[tuple[str, str], Fraction | None] = {}
        self.units = {str(unit): instance for unit, instance in (
            (Unit.STCE, hw.engine), (Unit.SORE, hw.maskgen), (Unit.VECTOR, hw.vector))
            if instance is not None}  # a Program's unit -> the unit instance doing its work
        self.banks: dict[str, float] = {}  # buffer unit -> bank KiB
        self.capacity: dict[str, float] = {}  # buffer unit -> KiB
        if hw.memory != "ideal":
            from satsim.schedule.tiling import slots

            for slot in slots(hw).values():
                for name in slot.buffers:
                    self.banks[f"buffer:{name}"] = slot.bytes / 1024
                    self.capacity[f"buffer:{name}"] = slot.bytes * slot.slots / 1024

    def per_action(self, unit: str, action: str) -> Fraction | None:
        """pJ per counted action (data movement: per byte); None when not priced."""
        key = (unit, action)
        if key not in self._cache:
            self._cache[key] = self._price(unit, action)
        return self._cache[key]

    def _component(self, unit: str) -> str:
        """The component (a unit kind or a memory) whose prices ``unit``'s counts take."""
        if unit in self.units:
            return self.units[unit].kind
        if unit in self.banks:
            return "sram"
        if unit == Unit.DRAM:
            return "dram"
        raise LookupError(f"actions counted for {unit!r}, a unit the hardware does not have")

    def _price(self, unit: str, action: str) -> Fraction | None:
        term, component = f"{unit}.{action}", self._component(unit)
        declared = components()[component].actions
        name = next((name for name, a in declared.items() if action in a.counted(name)), None)
        if name is None:  # the schedule counts what the component does not declare: a bug
            raise LookupError(f"{term}: no action of {component} prices it ({', '.join(declared)})")
        entry, how = getattr(self.table.prices(component), name), declared[name].price
        if how is Price.PJ_BY_FORMAT:  # the datapath's formats pick the price
            pair = f"{self.hw.numerics.operand}/{self.hw.numerics.accumulate}"
            entry = entry.get(pair, ActionPrice(
                pj=None, source=f"the table has no price for {pair} {name}"))
        price = entry.at(self.banks[unit]) if how is Price.PJ_PER_BIT_BY_KIB else entry.value
        override = None if self.hw.energy is None else self.hw.energy.dram_pj_per_bit
        if component == "dram" and override is not None:
            price = override
        self.used[term] = price
        if price is None:
            self.why[term] = entry.source
            return None
        per_byte = how in (Price.PJ_PER_BIT, Price.PJ_PER_BIT_BY_KIB)  # bits priced, bytes counted
        return exact(price) * (8 if per_byte else 1)

    def static_mw(self) -> dict[str, Fraction | None]:
        """Static power of every unit the hardware has, in mW (None: not priced): each routed
        unit's per its kind's measure (PEs, lanes), each buffer's per KiB, DRAM's per
        channel."""
        found = {unit: (instance.kind, instance.static_count() * instance.count)
                 for unit, instance in self.units.items()}
        found |= {unit: ("sram", kib) for unit, kib in self.capacity.items()}
        if self.hw.memory != "ideal":
            found[str(Unit.DRAM)] = ("dram", self.hw.memory.dram.channels)
        power = {}
        for unit, (component, count) in found.items():
            term, entry = f"{unit}.{STATIC}", self.table.prices(component).static
            self.used[term] = entry.value
            if entry.value is None:
                self.why[term] = entry.source
                power[unit] = None
            else:
                power[unit] = exact(entry.value) * exact(count)
        return power


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
    units: dict[str, Bucket] = {}
    phases: dict[str, Bucket] = {}
    layers: dict[str, Bucket] = {}
    by_op: dict[int, dict[str, Fraction | None]] = {}
    for row in result.rows:
        per_unit: dict[str, Bucket] = {}
        for unit, counts in result.actions.get(row["index"], {}).items():
            for action, count in counts.items():
                if count == 0:
                    continue
                price = pricer.per_action(unit, action)
                per_unit.setdefault(unit, Bucket()).add(
                    None if price is None else price * count)
        by_op[row["index"]] = mine = {
            u: None if b.value is None else b.value * PJ for u, b in per_unit.items()}
        for unit, joules in mine.items():  # each op's unit once: fewer exact additions
            for bucket in (units.setdefault(unit, Bucket()),
                           phases.setdefault(row["phase"], Bucket()),
                           layers.setdefault(row["layer"], Bucket())):
                bucket.add(joules)
    seconds = Fraction(result.cycles) / (exact(result.clock_mhz) * 10**6)
    static: dict[str, Fraction | None] = {}
    static_bucket = Bucket()
    for unit, mw in pricer.static_mw().items():
        joules = None if mw is None else mw * seconds * MJ
        static[unit] = joules
        units.setdefault(unit, Bucket()).add(joules)
        static_bucket.add(joules)
    total = sum((b.total for b in units.values()), Fraction(0))
    by_phase = {p: phases[p].value for p in PHASES if p in phases}
    by_phase |= {p: b.value for p, b in phases.items() if p not in by_phase}
    by_layer = {name: b.value for name, b in layers.items()}
    if static:
        by_phase[STATIC] = by_layer[STATIC] = static_bucket.value
    sums = ExactJoules(total=total, by_unit={u: units[u].value for u in unit_order(units)},
                       by_phase=by_phase, by_layer=by_layer, by_op=by_op, static=static)
    return EnergyBreakdown(table=table.name, table_file=table_file, exact=sums,
                           excluded=dict(sorted(pricer.why.items())),
                           prices=dict(sorted(pricer.used.items())))
