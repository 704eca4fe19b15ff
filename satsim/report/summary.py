"""A run's report: the result, its dense twin, the bounds, the scope; as text and as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from satsim.energy.breakdown import EVERY_TERM, same_terms_priced
from satsim.report.bounds import Bounds
from satsim.report.columns import text_table
from satsim.report.result import IDLE_CAUSES, IDLE_STALLS, STALLS, UNITS, RunResult
from satsim.trace.workload import SparsitySummary

if TYPE_CHECKING:
    from satsim.report.trace_events import TraceEvents


@dataclass(frozen=True)
class Scope:
    """What the numbers include and what they leave out."""

    memory: str  # "ideal memory (...)" or the DRAM and buffers timed
    not_timed: dict[str, str]  # record kind -> "count (why)" of records no unit times
    no_effect: dict[str, str]  # config field -> why it changes nothing in this run
    timed: tuple[str, ...]  # what the cycles cover, e.g. "GEMMs (FF, BP, WG) on the STCE"
    graph: str  # the trace's dataflow graph, or why its records form a sequential chain

    def lines(self) -> list[str]:
        untimed = ("; ".join(f"{kind}: {what}" for kind, what in self.not_timed.items())
                   if self.not_timed else "nothing in the trace")
        lines = [f"modelled: {'; '.join(self.timed)}",
                 f"not timed: {untimed}",
                 f"dependencies: {self.graph}"]
        lines += [f"no effect: {knob}: {why}" for knob, why in self.no_effect.items()]
        return lines

    def to_json(self) -> dict:
        return {"timed": list(self.timed), "memory": self.memory, "not_timed": self.not_timed,
                "no_effect": self.no_effect, "graph": self.graph}


@dataclass(frozen=True)
class RunReport:
    """Everything ``satsim run`` prints or writes, built by :func:`satsim.api.run`."""

    result: RunResult
    compute_only: RunResult | None  # the same run on ideal memory (None: memory is ideal)
    dense: RunResult | None  # the same trace with every weight dense (None: already dense)
    bounds: Bounds | None
    sparsity: SparsitySummary | None  # None for a dense run
    reannotated: bool  # --method / --sparsity changed the trace's annotations
    scope: Scope
    provenance: dict
    engine: str  # the MAC engine, in a few words: 32x32 systolic
    units: dict[str, tuple[str, str]]  # per Program unit (stce, ...): the machine's name, what
    strided_bp: str
    warnings: tuple[str, ...] = ()
    hint: str | None = None  # a flag that makes a dense trace sparse, if one does
    timeline: TraceEvents | None = None  # Chrome trace-event document, when asked for

    def metrics(self) -> dict[str, int | float | bool | str | None]:
        """Every number this run reports, by name: one per :data:`METRICS` entry, in its
        order (``None``: not modelled or not asked for), with what its energy covers
        (``energy_complete``, ``energy_coverage``)."""
        return {name: metric.of(self) for name, metric in METRICS.items()}

    def to_json(self) -> dict:
        """The ``satsim.result/2`` document (docs/results.md)."""
        doc = self.result.to_json()
        doc["compute_only_cycles"] = (self.compute_only or self.result).cycles
        doc.update(self.provenance)
        doc["scope"] = self.scope.to_json()
        doc["dense_cycles"] = self.dense.cycles if self.dense else None
        dense_energy = self.dense.energy if self.dense else None
        doc["dense_energy_j"] = None if dense_energy is None else dense_energy.energy_j
        doc["dense_energy_coverage"] = None if dense_energy is None else dense_energy.coverage
        doc["speedup"] = self.bounds.speedup if self.bounds else None
        doc["bounds"] = self.bounds.to_json() if self.bounds else None
        doc["sparse_layers"] = None if self.sparsity is None else {
            "reannotated": self.reannotated, "sparse": self.sparsity.sparse_layers,
            "weight_layers": self.sparsity.weight_layers,
            "sparse_mac_fraction": self.sparsity.sparse_fraction,
            "dense": self.sparsity.dense_layers}
        doc["warnings"] = list(self.warnings)
        return doc

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"

    def text(self) -> str:
        """The tables ``satsim run`` prints."""
        res = self.result
        lines = [
            f"workload   {res.workload}  ({res.method}, {res.sparsity})",
            f"hardware   {res.hardware}  ({self.engine} @ {res.clock_mhz:g} MHz, "
            f"strided conv BP: {self.strided_bp})",
            f"memory     {self.scope.memory}",
            f"dataflow   {res.dataflow}",
        ]
        if self.sparsity is not None:
            how = "re-annotated" if self.reannotated else "as captured"
            lines.append(f"sparsity   {how}: {self.sparsity.describe()}")
        lines += ["", *_phase_table(res, self.units), "",
                  *_unit_table(res, self.units), "", *self._totals(),
                  *_energy_lines(res, self.dense), ""]
        lines += self._speedup()
        lines += ["", *self.scope.lines()]
        return "\n".join(lines)

    def _totals(self) -> list[str]:
        res = self.result
        lines = [f"iteration  {res.cycles:,} cycles ({res.seconds * 1e3:.3f} ms), "
                 f"array MAC utilization {res.utilization:.1%}"]
        if res.schedule is not None and res.schedule.source:
            lines.append(f"schedule   read from {res.schedule.source} (issue order "
                         f"{res.schedule.order_name!r}); the scheduler searched nothing")
        elif len(res.orders_tried) > 1:
            tried = ", ".join(f"{name} {cycles:,}" for name, cycles in res.orders_tried.items())
            lines.append(f"schedule   {res.order}: the fastest issue order the offline "
                         f"scheduler tried (cycles: {tried})")
        if self.compute_only is not None:
            ideal = self.compute_only
            more = res.cycles / ideal.cycles - 1 if ideal.cycles else 0.0
            lines.append(f"compute only (same units, ideal memory): {ideal.cycles:,} cycles "
                         f"({ideal.seconds * 1e3:.3f} ms); memory adds {more:.1%}")
            moved = res.total("dram_read_bytes") + res.total("dram_write_bytes")
            lines.append(f"DRAM       {res.total('dram_read_bytes') / 1e6:,.1f} MB read, "
                         f"{res.total('dram_write_bytes') / 1e6:,.1f} MB written "
                         f"({moved / res.seconds / 1e9 if res.cycles else 0:.2f} GB/s average)")
            peaks = ", ".join(f"{name} {peak / 1024:,.0f} of {cap / 1024:,.0f} KiB"
                              for name, (cap, peak) in res.buffers.items())
            lines.append(f"buffers    peak use: {peaks}")
        return lines

    def _speedup(self) -> list[str]:
        if self.dense is None and self.sparsity is not None:
            return ["dense baseline not simulated (baseline off): no speedup"]
        if self.dense is None:
            return ["dense run: no sparse weights"
                    + (f" (add {self.hint} to prune every layer N:M can)" if self.hint else "")]
        b = self.bounds
        lines = [f"dense training on the same hardware: {self.dense.cycles:,} cycles "
                 f"({self.dense.seconds * 1e3:.3f} ms, "
                 f"{self.dense.utilization:.1%} array MAC utilization)",
                 f"speedup over dense: {b.speedup:.2f}x",
                 f"  MAC-proportional ideal of this trace: {b.mac_ideal:.2f}x "
                 "(its dense MACs / executed MACs)"]
        if b.uniform is not None:
            lines.append(f"  uniform bound for {b.uniform_case}, {b.uniform_formula}: "
                         f"{b.uniform:.2f}x (phases cost alike, every pruned weight N:M)")
        else:
            lines.append(f"  uniform bound: {b.uniform_case}")
        why = "; ".join(b.differences) or "none, the trace meets its assumptions"
        lines.append(f"  ideal vs bound: {why}")
        lines.append(f"  speedup vs ideal: {b.array_effects}")
        return lines


@dataclass(frozen=True)
class Metric:
    """One number every run reports (:meth:`RunReport.metrics`); a sweep stores it as a
    column of type ``kind``."""

    kind: str  # "int", "float", "bool" or "str" (satsim.sweep.store.row_schema)
    of: Callable[[RunReport], int | float | bool | str | None]  # its value in a run


def _per_unit(suffix: str, kind: str, value: Callable[[RunResult, str], int | float]
              ) -> dict[str, Metric]:
    """``<unit>_<suffix>`` for every unit (None in a run whose hardware does not time it)."""
    return {f"{unit}_{suffix}": Metric(kind, lambda r, unit=unit: value(r.result, unit)
                                       if unit in r.result.busy else None) for unit in UNITS}


# Every metric of a run, the one declaration: metrics() computes these and nothing else, and a
# sweep's shards have one column of the declared type per metric (a failed row, or a shard
# whose points all lack one, still has every column).
METRICS: dict[str, Metric] = {
    "cycles": Metric("int", lambda r: r.result.cycles),
    "seconds": Metric("float", lambda r: r.result.seconds),
    "macs": Metric("int", lambda r: r.result.macs),
    "dense_macs": Metric("int", lambda r: r.result.dense_macs),
    "utilization": Metric("float", lambda r: r.result.utilization),
    "energy_j": Metric("float", lambda r: r.result.energy_j),
    "energy_complete": Metric("bool", lambda r: None if r.result.energy is None
                              else r.result.energy.complete),
    "energy_coverage": Metric("str", lambda r: None if r.result.energy is None
                              else r.result.energy.coverage),
    "compute_only_cycles": Metric("int", lambda r: (r.compute_only or r.result).cycles),
    "dram_read_bytes": Metric("int", lambda r: r.result.total("dram_read_bytes")),
    "dram_write_bytes": Metric("int", lambda r: r.result.total("dram_write_bytes")),
    **{stall: Metric("int", lambda r, stall=stall: r.result.total(stall)) for stall in STALLS},
    **_per_unit("busy_cycles", "int", lambda res, unit: res.busy[unit]),
    **_per_unit("idle_cycles", "int", RunResult.idle_cycles),
    **_per_unit("utilization", "float", RunResult.unit_utilization),
    "dense_cycles": Metric("int", lambda r: r.dense.cycles if r.dense else None),
    "speedup": Metric("float", lambda r: r.bounds.speedup if r.bounds else None),
    "ideal_mac_speedup": Metric("float", lambda r: r.bounds.mac_ideal if r.bounds else None),
    "uniform_bound": Metric("float", lambda r: r.bounds.uniform if r.bounds else None),
}


def _phase_table(res: RunResult, units: dict[str, tuple[str, str]]) -> list[str]:
    """Per phase: unit, ops, busy cycles and time, MAC utilization, stalls, DRAM bytes."""
    ms = res.clock_mhz * 1e3
    rows = [["phase", "unit", "ops", "busy cycles", "time (ms)", "util",
             *(IDLE_CAUSES[c] for c in IDLE_STALLS), "DRAM MB"]]
    for t in res.phase_totals():
        util = f"{t.macs / (t.busy_cycles * res.array_pes):.1%}" if (
            t.unit == "stce" and t.busy_cycles) else "-"
        moved = (t.dram_read_bytes + t.dram_write_bytes) / 1e6
        per = res.instances.get(t.unit, 1)  # time: one instance's (they share the work)
        rows.append([t.phase, units[t.unit][0], f"{t.ops:,}", f"{t.busy_cycles:,}",
                     f"{t.busy_cycles / per / ms:,.3f}", util,
                     *(f"{getattr(t, f'stall_{c}'):,}" for c in IDLE_STALLS), f"{moved:,.1f}"])
    return text_table(rows, "<<" + ">" * (len(rows[0]) - 2))


def _unit_table(res: RunResult, units: dict[str, tuple[str, str]]) -> list[str]:
    """Per unit: busy cycles, the share of the iteration it worked, its idle cycles by
    cause."""
    rows = [["unit", "busy cycles", "busy", "idle cycles", *IDLE_CAUSES.values()]]
    for unit in UNITS:
        if unit in res.busy:
            idle = {} if unit == "dram" else res.idle_by_cause(unit)  # the DMA has no ops
            count = res.instances.get(unit, 1)
            name, what = units[unit]
            label = f"{name} ({what})" + (f" x {count}" if count > 1 else "")
            rows.append([label, f"{res.busy[unit]:,}", f"{res.unit_utilization(unit):.1%}",
                         f"{res.idle_cycles(unit):,}",
                         *(f"{idle[c]:,}" if idle else "-" for c in IDLE_CAUSES)])
    several = " x its instances" if max(res.instances.values(), default=1) > 1 else ""
    return [*text_table(rows, "<" + ">" * (len(rows[0]) - 1)),
            f"  each unit: busy + idle = {res.cycles:,} cycles (the iteration){several}; "
            "idle = its stalls + after its last op"]


def joules(value: float | None, spec: str = ".3f") -> str:
    """An energy with a readable prefix (``spec``: the number's format); n/a when not
    priced."""
    if value is None:
        return "n/a"
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ")):
        if abs(value) >= scale:
            return f"{value / scale:{spec}} {unit}"
    return f"{value / 1e-9:{spec}} nJ"


def energy_name(complete: bool, unit: str | None = None) -> str:
    """A run's energy total as a label names it (an axis, a column, a table row): ``"energy
    per iteration"`` when every term is priced (``complete``), else ``"priced energy per
    iteration"``, what it covers said beside it (:func:`energy_total`); ``unit`` in
    parentheses after it."""
    name = "energy per iteration" if complete else "priced energy per iteration"
    return name if unit is None else f"{name} ({unit})"


def energy_total(value: float | None, covers: str | None, spec: str = ".3f") -> str:
    """A run's energy as it must be read: ``"291.236 mJ per iteration"`` when every term is
    priced, else what the sum covers first, ``"198.484 mJ priced (DRAM only; 26 of 28 terms
    n/a)"``; ``covers``: :func:`satsim.energy.breakdown.coverage` of its prices (None, or no
    ``value``: energy not modelled)."""
    if value is None or covers is None:
        return "not modelled"
    if covers == EVERY_TERM:
        return f"{joules(value, spec)} per iteration"
    return f"{joules(value, spec)} priced ({covers})"


def _energy_lines(res: RunResult, dense: RunResult | None) -> list[str]:
    """The iteration's energy, per unit and per phase, and what is not priced."""
    e = res.energy
    if e is None:
        return ["energy     not modelled (the hardware names no energy table: energy: null)"]
    lines = [f"energy     {energy_total(e.energy_j, e.coverage)}"
             + ("" if e.complete else ": a lower bound, not the iteration's energy"),
             f"  table    {e.table}: actions x prices + static power x time"
             + ("" if e.complete else "; terms not priced are left out, never counted as 0")]
    for label, parts in (("by unit", e.by_unit), ("by phase", e.by_phase)):
        lines.append(f"  {label:<9}" + ", ".join(f"{k} {joules(v)}" for k, v in parts.items()))
    if e.excluded:
        lines.append(f"  n/a (not priced): {', '.join(e.excluded)}")
    if dense is not None and dense.energy is not None and dense.energy_j:
        if not same_terms_priced(e, dense.energy):
            saving = "the two runs price different terms: no saving computed"
        else:
            saved = 1 - e.energy_j / dense.energy_j
            saving = (f"{saved:.1%} saved" if saved >= 0 else f"{-saved:.1%} more") + (
                "" if e.complete and dense.energy.complete else " on the priced terms")
        lines.append("  dense training on the same hardware: "
                     f"{energy_total(dense.energy_j, dense.energy.coverage)}; {saving}")
    return lines
