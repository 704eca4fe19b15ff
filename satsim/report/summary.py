"""A run's report: the result, its dense twin, the bounds, the scope; as text and as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

from satsim.report.bounds import Bounds
from satsim.report.result import RunResult
from satsim.trace.workload import SparsitySummary

MEMORY = {"ideal": "ideal memory (operands always on chip, no stalls)"}


@dataclass(frozen=True)
class Scope:
    """What the numbers include and what they leave out."""

    memory: str  # the hardware's memory model
    not_timed: dict[str, int]  # trace record kind -> count of records not timed
    no_effect: tuple[str, ...]  # config fields accepted but not yet read by any model
    timed: str  # what the cycles cover, e.g. "GEMMs (FF, BP, WG) on the STCE"
    graph: str  # the trace's dataflow graph, or why its records form a sequential chain

    def lines(self) -> list[str]:
        untimed = (", ".join(f"{n} {kind}" for kind, n in self.not_timed.items())
                   + " records of the trace") if self.not_timed else "nothing else in the trace"
        return [f"modelled: {self.timed} only, {MEMORY.get(self.memory, self.memory)}",
                f"not timed: {untimed}",
                f"tensor graph: {self.graph}",
                f"no effect yet: {', '.join(self.no_effect)}"]

    def to_json(self) -> dict:
        return {"timed": self.timed, "memory": self.memory, "totals": "GEMM-only",
                "not_timed": self.not_timed, "no_effect": list(self.no_effect),
                "graph": self.graph}


@dataclass(frozen=True)
class RunReport:
    """Everything ``satsim run`` prints or writes, built by :func:`satsim.api.run`."""

    result: RunResult
    dense: RunResult | None  # the same trace with every weight dense (None: already dense)
    bounds: Bounds | None
    sparsity: SparsitySummary | None  # None for a dense run
    reannotated: bool  # --method / --sparsity changed the trace's annotations
    scope: Scope
    provenance: dict
    array: tuple[int, int]
    strided_bp: str
    warnings: tuple[str, ...] = ()
    hint: str | None = None  # a flag that makes a dense trace sparse, if one does

    def metrics(self) -> dict[str, int | float | None]:
        """Every number this run reports, by name (``None``: not modelled or not asked for).

        Sweeps take all of them, so a metric added here appears in sweep results unchanged.
        """
        res, b = self.result, self.bounds
        return {
            "cycles": res.cycles, "seconds": res.seconds, "macs": res.macs,
            "dense_macs": res.dense_macs, "utilization": res.utilization, "energy_j": None,
            "dense_cycles": self.dense.cycles if self.dense else None,
            "speedup": b.speedup if b else None,
            "ideal_mac_speedup": b.mac_ideal if b else None,
            "uniform_bound": b.uniform if b else None,
        }

    def to_json(self) -> dict:
        """The ``satsim.result/1`` document."""
        doc = self.result.to_json()
        doc.update(self.provenance)
        doc["scope"] = self.scope.to_json()
        doc["dense_cycles"] = self.dense.cycles if self.dense else None
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
        """The table ``satsim run`` prints."""
        res, (rows, cols) = self.result, self.array
        lines = [
            f"workload   {res.workload}  ({res.method}, {res.sparsity})",
            f"hardware   {res.hardware}  ({rows}x{cols} PEs @ {res.clock_mhz:g} MHz, "
            f"strided conv BP: {self.strided_bp})",
            f"dataflow   {res.dataflow}",
        ]
        if self.sparsity is not None:
            how = "re-annotated" if self.reannotated else "as captured"
            lines.append(f"sparsity   {how}: {self.sparsity.describe()}")
        lines += ["", f"{'phase':<7}{'ops':>5}{'cycles':>15}{'time (ms)':>12}{'utilization':>13}"]
        for t in res.phase_totals():
            lines.append(f"{t.phase:<7}{t.ops:>5}{t.cycles:>15,}"
                         f"{t.cycles / (res.clock_mhz * 1e3):>12.3f}"
                         f"{t.macs / (t.cycles * res.pes) if t.cycles else 0:>12.1%}")
        lines.append(f"{'total':<7}{len(res.rows):>5}{res.cycles:>15,}"
                     f"{res.seconds * 1e3:>12.3f}{res.utilization:>12.1%}")
        lines.append("")
        if self.dense is None and self.sparsity is not None:
            lines.append("dense baseline not simulated (baseline off): no speedup")
        elif self.dense is None:
            lines.append("dense run: no sparse weights"
                         + (f" (add {self.hint} to prune every layer N:M can)" if self.hint
                            else ""))
        else:
            b = self.bounds
            lines.append(f"dense training on the same hardware: {self.dense.cycles:,} cycles "
                         f"({self.dense.seconds * 1e3:.3f} ms, "
                         f"{self.dense.utilization:.1%} utilization)")
            lines.append(f"speedup over dense: {b.speedup:.2f}x")
            lines.append(f"  MAC-proportional ideal of this trace: {b.mac_ideal:.2f}x "
                         "(its dense MACs / executed MACs)")
            if b.uniform is not None:
                lines.append(f"  uniform bound for {b.uniform_case}, {b.uniform_formula}: "
                             f"{b.uniform:.2f}x (phases cost alike, every pruned weight N:M)")
            else:
                lines.append(f"  uniform bound: {b.uniform_case}")
            why = "; ".join(b.differences) or "none, the trace meets its assumptions"
            lines.append(f"  ideal vs bound: {why}")
            lines.append(f"  speedup vs ideal: {b.array_effects}")
        lines += ["", *self.scope.lines()]
        return "\n".join(lines)
