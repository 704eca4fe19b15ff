"""Workload resolution (name, trace file or CSV) and re-annotation by training method."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from pathlib import Path

from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.trace.importers import read_csv_workload
from satsim.trace.io import read_trace
from satsim.trace.schema import GemmOp, Trace
from satsim.types import NMPattern, Phase, sparsity_label

DEFAULT_WORKLOAD = "resnet18-cifar"
_SUFFIXES = (".jsonl", ".csv")


class Method(StrEnum):
    """How a training method prunes the weight operand of each phase."""

    BDWP = "bdwp"  # FF and BP N:M (two masks)
    SRSTE = "srste"  # FF only
    DENSE = "dense"

    def sparse_phases(self) -> frozenset[Phase]:
        return {Method.BDWP: frozenset({Phase.FF, Phase.BP}),
                Method.SRSTE: frozenset({Phase.FF}),
                Method.DENSE: frozenset()}[self]


def load_workload(spec: str | Path = DEFAULT_WORKLOAD) -> Trace:
    """A trace from a file (``.jsonl`` trace or ``.csv``) or a shipped workload name.

    A bare model name (``resnet18-cifar``) means its BDWP 2:8 capture (``resnet18-cifar-bdwp``).
    """
    path = Path(spec)
    if not path.is_file():
        workloads = shipped("workloads", _SUFFIXES)
        if str(spec) not in workloads and f"{spec}-bdwp" in workloads:
            spec = f"{spec}-bdwp"
        if str(spec) not in workloads:
            if path.suffix in _SUFFIXES or "/" in str(spec):
                raise SatsimError("no such file", source=spec)
            names = ", ".join(workloads) or "none"
            raise SatsimError(f"no such file or workload (shipped: {names})", source=spec)
        path = workloads[str(spec)]
    if path.suffix == ".csv":
        return read_csv_workload(path)
    return read_trace(path)


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


def annotate(trace: Trace, method: Method, pattern: NMPattern | None) -> Trace:
    """Re-annotate weight operands as ``method`` at ``pattern`` would prune them.

    Only prunable weight operands change; the rest (stem conv, classifier, activation x
    activation GEMMs) stay dense as recorded.
    """
    if method is not Method.DENSE and pattern is None:
        raise ValueError("a sparse method needs an N:M pattern")
    sparse_phases = method.sparse_phases()

    def one(record):
        if not isinstance(record, GemmOp) or record.weight is None:
            return record
        keep = record.prunable and record.phase in sparse_phases
        return record.model_copy(update={"sparsity": pattern if keep else None})

    meta = {**trace.header.meta, "method": method.value,
            "nm": sparsity_label(pattern if method is not Method.DENSE else None)}
    header = trace.header.model_copy(update={"meta": meta})
    return Trace(header=header, records=tuple(one(r) for r in trace.records))
