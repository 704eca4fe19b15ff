"""Workload resolution (name, trace file or CSV) and re-annotation by training method."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from satsim.errors import SatsimError
from satsim.files import exists
from satsim.resources import DEFAULT_WORKLOAD, shipped
from satsim.trace.importers import read_csv_workload
from satsim.trace.io import read_trace
from satsim.trace.rewire import rewire
from satsim.trace.schema import GemmOp, Trace
from satsim.types import Method, NMPattern, sparsity_label

_SUFFIXES = (".jsonl", ".csv")


def resolve_workload(spec: str | Path = DEFAULT_WORKLOAD) -> Path:
    """The file behind a workload spec: a path, or a shipped workload name.

    A bare model name (``resnet18-cifar``) means its BDWP 2:8 capture (``resnet18-cifar-bdwp``).
    """
    path = Path(spec)
    if exists(path, regular=True):
        return path
    workloads = shipped("workloads", _SUFFIXES)
    name = str(spec)
    if name not in workloads and f"{name}-bdwp" in workloads:
        name = f"{name}-bdwp"
    if name in workloads:
        return workloads[name]
    if exists(path):
        raise SatsimError("not a regular file", source=spec)
    if path.suffix in _SUFFIXES or "/" in name:
        raise SatsimError("no such file", source=spec)
    raise SatsimError(f"no such file or workload (shipped: {', '.join(workloads) or 'none'})",
                      source=spec)


def load_workload(spec: str | Path = DEFAULT_WORKLOAD) -> Trace:
    """A trace from a file (``.jsonl`` trace or ``.csv``) or a shipped workload name.

    Parsed traces are cached per process by (path, size, modification time): a sweep's
    worker simulates the same workload many times. Traces are immutable, so sharing is safe.
    """
    path = resolve_workload(spec)
    info = path.stat()
    return _cached_trace(str(path.resolve()), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _cached_trace(path: str, size: int, mtime_ns: int) -> Trace:
    return read_csv_workload(path) if path.endswith(".csv") else read_trace(path)


def trace_pattern(trace: Trace) -> NMPattern | None:
    """The N:M pattern most weight operands of ``trace`` use, or ``None`` if all dense."""
    counts = Counter(op.sparsity for op in trace.gemms if op.sparsity is not None)
    return counts.most_common(1)[0][0] if counts else None


def trace_method(trace: Trace) -> str:
    """The training method recorded in the header, else what the annotations look like."""
    recorded = trace.header.meta.get("method")
    if recorded:
        return str(recorded)
    phases = {op.phase for op in trace.gemms if op.sparsity is not None}
    for method in Method:
        if phases == method.sparse_phases():
            return method.value
    return "custom"


def dense_reasons(reasons: dict[str, str], most: int = 4) -> str:
    """``{layer: reason}`` grouped by reason, e.g. ``stem conv: conv1; skipped: fc``."""
    by_reason: dict[str, list[str]] = {}
    for layer, reason in reasons.items():
        by_reason.setdefault(reason, []).append(layer)
    parts = []
    for reason, layers in by_reason.items():
        named = ", ".join(layers[:most]) + (f" and {len(layers) - most} more"
                                             if len(layers) > most else "")
        parts.append(f"{reason}: {named}")
    return "; ".join(parts)


def prune_reason(trace: Trace, op: GemmOp, method: Method, pattern: NMPattern) -> str | None:
    """Why ``method`` at ``pattern`` leaves the weight of ``op`` (a weight GEMM) dense, or
    ``None`` if it prunes it.

    Uses the trace's layer table (what the capture's ``sparsify`` would do for this pattern);
    a trace without one (CSV, hand-lowered, older captures) falls back to the op's
    ``prunable`` flag.
    """
    info = trace.header.layers.get(op.layer)
    if info is not None:
        return info.dense_reason(method.value, pattern.m)
    return None if op.prunable else "not prunable in this trace"


def annotate(trace: Trace, method: Method, pattern: NMPattern | None) -> Trace:
    """Re-annotate weight operands as ``method`` at ``pattern`` would prune them.

    Only layers the method can prune change (see :func:`prune_reason`); the rest (stem conv,
    classifier, layers whose channels are not whole groups, activation x activation GEMMs)
    are dense. A sparse method that prunes no layer at all is an error, never a quiet dense run.
    """
    if method is not Method.DENSE and pattern is None:
        raise ValueError("a sparse method needs an N:M pattern")
    sparse_phases = method.sparse_phases()

    def one(record):
        if not isinstance(record, GemmOp) or record.weight is None:
            return record
        keep = (record.phase in sparse_phases
                and prune_reason(trace, record, method, pattern) is None)
        return record.model_copy(update={"sparsity": pattern if keep else None})

    records, tensors = rewire(tuple(one(r) for r in trace.records), trace.tensors, method,
                              pattern)
    if method is not Method.DENSE and not any(
            isinstance(r, GemmOp) and r.sparsity is not None for r in records):
        reasons = {op.layer: prune_reason(trace, op, method, pattern) or
                   f"no {'/'.join(sorted(sparse_phases))} GEMM in the trace"
                   for op in trace.gemms if op.weight is not None}
        detail = dense_reasons(reasons) if reasons else "it has no weight GEMMs"
        raise SatsimError(f"{method} {pattern} makes no layer sparse: {detail}",
                          source=trace.name)
    meta = {**trace.header.meta, "method": method.value,
            "nm": sparsity_label(pattern if method is not Method.DENSE else None)}
    header = trace.header.model_copy(update={"meta": meta})
    return Trace(header=header, records=records, tensors=tensors)


@dataclass(frozen=True)
class SparsitySummary:
    """Which weight layers of a trace run N:M sparse, and how much work that touches.

    MAC counts are the dense MACs of weight GEMMs in the phases the method prunes (FF and BP
    for bdwp, FF for srste): the work N:M could shrink.
    """

    weight_layers: int  # layers with at least one weight GEMM
    sparse_layers: int  # of those, layers with at least one N:M weight GEMM
    prunable_macs: int  # dense MACs of weight GEMMs in the method's sparse phases
    sparse_macs: int  # of those, the MACs on N:M weights (counted dense)
    dense_layers: dict[str, str]  # layer -> why it stays dense (weight layers only)

    @property
    def sparse_fraction(self) -> float:
        return self.sparse_macs / self.prunable_macs if self.prunable_macs else 0.0

    def describe(self) -> str:
        text = (f"{self.sparse_layers} of {self.weight_layers} weight layers sparse, "
                f"{self.sparse_fraction:.1%} of the prunable phases' MACs")
        if self.dense_layers:
            text += f"; dense: {dense_reasons(self.dense_layers)}"
        return text


def summarize_sparsity(trace: Trace) -> SparsitySummary:
    """How much of ``trace`` is N:M, with a reason for every weight layer left dense."""
    weighted = [op for op in trace.gemms if op.weight is not None]
    sparse_ops = [op for op in weighted if op.sparsity is not None]
    method, pattern = trace_method(trace), trace_pattern(trace)
    known = Method(method) if method in {m.value for m in Method} else None
    phases = {op.phase for op in sparse_ops} or (known.sparse_phases() if known else set())
    sparse = {op.layer for op in sparse_ops}
    dense: dict[str, str] = {}
    for op in weighted:
        if op.layer not in sparse and op.layer not in dense:
            reason = prune_reason(trace, op, known, pattern) if known and pattern else None
            dense[op.layer] = reason or "dense in the trace"
    in_phases = [op for op in weighted if op.phase in phases]
    return SparsitySummary(
        weight_layers=len({op.layer for op in weighted}), sparse_layers=len(sparse),
        prunable_macs=sum(op.macs for op in in_phases),
        sparse_macs=sum(op.macs for op in in_phases if op.sparsity is not None),
        dense_layers=dense)
