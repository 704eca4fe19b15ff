"""Ideal speedups to print next to a simulated one, and what separates them.

Two ideals bracket what N:M can buy a training iteration:

* the **uniform bound** of the method: every GEMM phase costs the same and every weight in
  a sparse phase is N:M with density ρ = N/M. BDWP prunes FF and BP: ``3/(1+2ρ)``; SR-STE
  prunes FF only: ``3/(2+ρ)``; a forward-only workload: ``1/ρ``;
* the **MAC-proportional ideal** of the very trace: its dense MACs over the MACs it executes,
  i.e. what a machine whose time is proportional to MACs would gain.

They differ because of the trace's shape (phases with unequal MACs, layers left dense, N:M
groups that do not fill K); the simulated speedup differs from the MAC ideal because of the
array (fill and drain, edge tiles), which a shorter compressed reduction exposes more, and
because of the work N:M does not shrink: mask generation, vector work, weight updates and
waiting for DRAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.report.result import RunResult
from satsim.types import NMPattern

_UNIFORM = {  # method -> (formula, bound as a function of the density)
    "bdwp": ("3/(1+2N/M)", lambda rho: 3 / (1 + 2 * rho)),
    "srste": ("3/(2+N/M)", lambda rho: 3 / (2 + rho)),
    "forward": ("M/N", lambda rho: 1 / rho),
}
_PHASES = ("FF", "BP", "WG")


@dataclass(frozen=True)
class Bounds:
    """The simulated speedup next to the two ideals, with the reasons they differ."""

    speedup: float  # dense cycles / sparse cycles, same hardware and dataflow
    mac_ideal: float  # dense MACs / executed MACs of this trace
    uniform: float | None  # the method's uniform bound (None: no closed form applies)
    uniform_case: str  # "bdwp", "srste", "forward" or why there is none
    uniform_formula: str | None
    differences: tuple[str, ...]  # what separates the MAC ideal from the uniform bound
    array_effects: str  # what separates the simulated speedup from the MAC ideal

    def to_json(self) -> dict:
        return {"speedup": self.speedup, "mac_proportional": self.mac_ideal,
                "uniform": self.uniform, "uniform_case": self.uniform_case,
                "uniform_formula": self.uniform_formula,
                "differences": list(self.differences), "array_effects": self.array_effects}


def _uniform_case(rows, method: str) -> str:
    if {r["phase"] for r in rows} & set(_PHASES) <= {"FF"}:
        return "forward"
    if method in ("bdwp", "srste"):
        return method
    return f"none: method {method!r} has no uniform bound"


def _sum(rows, key: str) -> int:
    return sum(r[key] for r in rows)


def ideal_bounds(sparse: RunResult, dense: RunResult, method: str,
                 pattern: NMPattern) -> Bounds:
    """Bounds for a sparse run against its dense twin (same trace, hardware and dataflow)."""
    rho, rows = pattern.density, sparse.rows
    case = _uniform_case(rows, method)
    formula, bound = _UNIFORM.get(case, (None, None))
    differences = []
    per_phase = {t.phase: t.dense_macs for t in sparse.phase_totals()}
    present = [p for p in _PHASES if p in per_phase]
    ratios = [per_phase[p] / per_phase[present[0]] for p in present]
    if case != "forward" and any(abs(r - 1) >= 0.005 for r in ratios):
        ratio = " : ".join(f"{r:.2f}" for r in ratios)
        differences.append(f"dense MACs {':'.join(present)} = {ratio}, not equal")
    phases = {"bdwp": {"FF", "BP"}, "srste": {"FF"}, "forward": {"FF"}}.get(
        case, {r["phase"] for r in rows if r["sparsity"] != "dense"})
    in_phases = [r for r in rows if r["phase"] in phases]
    on_dense = [r for r in in_phases if r["sparsity"] == "dense"]
    if on_dense:
        share = _sum(on_dense, "dense_macs") / _sum(in_phases, "dense_macs")
        names = "/".join(p for p in _PHASES if p in phases)
        differences.append(f"{share:.1%} of the {names} MACs stay dense (layers N:M cannot "
                           "prune, weightless GEMMs)")
    on_sparse = [r for r in in_phases if r["sparsity"] != "dense"]
    if on_sparse:
        density = _sum(on_sparse, "macs") / _sum(on_sparse, "dense_macs")
        if abs(density - rho) > 1e-9:
            differences.append(f"sparse GEMMs keep {density:.4f} of their MACs, not "
                               f"N/M = {rho:.4f} (measured patterns, short last groups)")
    array = (f"array MAC utilization {sparse.utilization:.1%} sparse vs "
             f"{dense.utilization:.1%} dense: compressed reductions are shorter, so fill, "
             "drain and edge tiles weigh more")
    if set(sparse.busy) - {"stce"}:
        array += (f"; the STCE works {sparse.unit_utilization('stce'):.0%} of the sparse "
                  f"iteration vs {dense.unit_utilization('stce'):.0%} of the dense one: mask "
                  "generation, vector work, updates and memory stalls do not shrink with N:M")
    return Bounds(speedup=dense.cycles / sparse.cycles,
                  mac_ideal=sparse.dense_macs / sparse.macs,
                  uniform=bound(rho) if bound else None, uniform_case=case,
                  uniform_formula=formula, differences=tuple(differences), array_effects=array)
