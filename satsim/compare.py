"""Dense vs SR-STE vs BDWP training on one machine, model by model: ``satsim compare``.

For every model: the iteration's cycles with each method at one N:M, the speedups over dense
training on the same hardware and dataflow, each method's uniform bound and the
MAC-proportional ideal of its trace (:mod:`satsim.report.bounds`), and the mean speedups.
A model's runs come from its shipped captures (``<model>-dense``, ``-srste``, ``-bdwp``)
where they were captured at that N:M; otherwise its dense capture (or the trace file given)
is re-annotated with the method, which gives exactly a capture's numbers (tested).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from satsim.config import HardwareConfig, load_machine
from satsim.errors import SatsimError
from satsim.pool import local_pool, worker_count
from satsim.report.bounds import ideal_bounds
from satsim.report.columns import text_table
from satsim.report.result import RunResult
from satsim.resources import PAPER_MODELS, find, shipped
from satsim.simulate import simulate
from satsim.trace.schema import Trace
from satsim.trace.workload import (
    Method,
    annotate,
    load_workload,
    shipped_workloads,
    trace_pattern,
)
from satsim.types import NMPattern

PAPER_MEAN = 1.75  # bdwp 2:8 over dense, mean of the five models (Fang et al., TCAD 2023)
METHODS = ("srste", "bdwp")


@dataclass(frozen=True)
class MethodRun:
    """One sparse method on one model, against the model's dense run."""

    cycles: int
    speedup: float  # dense cycles / these cycles
    uniform: float | None  # the method's uniform bound at this N:M
    mac_ideal: float  # the trace's dense MACs / executed MACs
    source: str  # the capture it ran, or "<capture> re-annotated"


@dataclass(frozen=True)
class ModelRow:
    model: str
    dense_cycles: int
    dense_source: str
    methods: dict[str, MethodRun]

    @property
    def checks(self) -> list[str]:
        """What contradicts the expected order of the results (empty: nothing)."""
        found = [f"{m} above its MAC-proportional ideal" for m, r in self.methods.items()
                 if r.speedup > r.mac_ideal]
        if self.methods["srste"].speedup >= self.methods["bdwp"].speedup:
            found.append("srste not slower than bdwp")
        return found


@dataclass(frozen=True)
class Comparison:
    """Every model's row, and what they were run on."""

    rows: tuple[ModelRow, ...]
    pattern: NMPattern
    hardware: str
    dataflow: str
    clock_mhz: float

    def mean(self, method: str) -> float:
        return statistics.fmean(r.methods[method].speedup for r in self.rows)

    @property
    def paper_setting(self) -> bool:
        """The paper's five models at 2:8: its 1.75x applies."""
        return (self.pattern == NMPattern(2, 8)
                and tuple(r.model for r in self.rows) == PAPER_MODELS)

    def lines(self) -> list[str]:
        rows = [["model", "dense Mcyc", "srste Mcyc", "bdwp Mcyc", "srste", "bound", "ideal",
                 "bdwp", "bound", "ideal", "checks"]]
        for row in self.rows:
            s, b = row.methods["srste"], row.methods["bdwp"]
            rows.append([row.model, *(f"{c / 1e6:,.2f}" for c in (row.dense_cycles, s.cycles,
                                                                  b.cycles)),
                         _x(s.speedup), _x(s.uniform), _x(s.mac_ideal),
                         _x(b.speedup), _x(b.uniform), _x(b.mac_ideal),
                         "; ".join(row.checks) or "ok"])
        rows.append(["mean", "", "", "", _x(self.mean("srste")), "", "", _x(self.mean("bdwp")),
                     "", "", ""])
        lines = [f"hardware {self.hardware}, dataflow {self.dataflow}, N:M {self.pattern}; "
                 "speedups over dense training on the same machine; bound: the method's "
                 "uniform bound, ideal: the trace's MAC-proportional ideal", "",
                 *text_table(rows, "<" + ">" * 9 + "<")]
        if self.paper_setting:
            lines.append(f"SAT paper (Fang et al., TCAD 2023): bdwp 2:8 trains {PAPER_MEAN}x "
                         "faster than dense on average over these five models")
        derived = [f"{r.model} {m}: {source}" for r in self.rows
                   for m, source in (("dense", r.dense_source),
                                     *((m, run.source) for m, run in r.methods.items()))
                   if source != f"{r.model}-{m}"]
        if derived:
            lines.append("not captured as run (re-annotated): " + "; ".join(derived))
        return lines

    def to_json(self) -> dict:
        return {
            "hardware": self.hardware, "dataflow": self.dataflow,
            "sparsity": str(self.pattern), "clock_mhz": self.clock_mhz,
            "models": [{"model": r.model, "dense_cycles": r.dense_cycles,
                        "dense_source": r.dense_source, "checks": r.checks,
                        **{m: vars(run) for m, run in r.methods.items()}} for r in self.rows],
            "mean_speedup": {m: self.mean(m) for m in METHODS},
            "paper_mean_bdwp": PAPER_MEAN if self.paper_setting else None,
        }


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def base_workload(model: str) -> Path:
    """The trace a model's runs start from, by the rule of :func:`satsim.resources.find`: a
    name with a shipped dense capture (``<model>-dense``) is that capture; any other name or
    a path, the workload it names."""
    names = shipped_workloads()
    dense = names.get(f"{model}-dense")
    try:
        return find(model, {**names, model: dense} if dense else names, "workload")
    except SatsimError as exc:
        raise SatsimError(str(exc), source="--workloads") from None


def model_traces(model: str, pattern: NMPattern,
                 hw: HardwareConfig) -> dict[str, tuple[Trace, str]]:
    """Per method (dense included), the trace to run and where it came from."""
    workloads = shipped("workloads", (".jsonl", ".csv"))
    problem = hw.pattern_problem(pattern)
    if problem is not None:
        raise SatsimError(problem, source="--nm")
    path = base_workload(model)
    captures = path == workloads.get(f"{model}-dense")
    captured = {m: f"{model}-{m}" for m in METHODS if captures and f"{model}-{m}" in workloads}
    base_name = f"{model}-dense" if captures else model
    base = annotate(load_workload(path), Method.DENSE, None)
    found = {"dense": (base, base_name if captures else f"{base_name} made dense")}
    for method in METHODS:
        name = captured.get(method)
        trace = load_workload(name) if name else None
        if trace is not None and trace_pattern(trace) == pattern:
            found[method] = (trace, name)
        else:
            found[method] = (annotate(base, Method(method), pattern),
                             f"{base_name} re-annotated")
    return found


def compare(models: Sequence[str] = PAPER_MODELS, sparsity: str = "2:8",
            hardware: str | Path = "sat", dataflow: str | Path | None = None,
            overrides: Sequence[str] = (), workers: int | None = 1,
            progress: Callable[[str], None] | None = None) -> Comparison:
    """Dense, SR-STE and BDWP at ``sparsity`` on every model (see the module).

    The runs are independent: ``workers`` processes share them (None: every core), the
    largest traces first; each run is deterministic, so the table does not depend on it.
    ``progress`` is told each run as it finishes.
    """
    try:
        pattern = NMPattern.parse(sparsity)
    except ValueError as exc:
        raise SatsimError(str(exc), source="--nm") from None
    if pattern is None:
        raise SatsimError("compare needs a sparse N:M, not dense", source="--nm")
    if not models:
        raise SatsimError("no models given", source="--workloads")
    workers = worker_count(workers)
    hw, policy = load_machine(hardware, dataflow, overrides)
    runs = {model: model_traces(model, pattern, hw) for model in models}
    jobs = sorted(((model, method) for model in runs for method in ("dense", *METHODS)),
                  key=lambda job: -len(runs[job[0]][job[1]][0].records))
    results: dict[tuple[str, str], RunResult] = {}

    def finished(job: tuple[str, str], result: RunResult) -> None:
        results[job] = result
        if progress is not None:
            progress(f"{job[0]} {job[1]} ({len(results)}/{len(jobs)})")

    if workers == 1:
        for job in jobs:
            finished(job, simulate(runs[job[0]][job[1]][0], hw, policy))
    else:
        with local_pool(min(workers, len(jobs))) as pool:
            futures = {pool.submit(simulate, runs[model][method][0], hw, policy):
                       (model, method) for model, method in jobs}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    rows = []
    for model, traces in runs.items():
        dense = results[model, "dense"]
        methods = {}
        for method in METHODS:
            result = results[model, method]
            b = ideal_bounds(result, dense, method, pattern)
            methods[method] = MethodRun(result.cycles, b.speedup, b.uniform, b.mac_ideal,
                                        traces[method][1])
        rows.append(ModelRow(model, dense.cycles, traces["dense"][1], methods))
    return Comparison(tuple(rows), pattern, hw.name, policy.name, hw.clock_mhz)
