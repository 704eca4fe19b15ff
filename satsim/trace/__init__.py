"""Workload traces: schema (v1), reader/writer, CSV importers, lowering helpers."""

from satsim.trace.importers import read_csv_workload
from satsim.trace.io import read_trace, write_trace
from satsim.trace.schema import (
    ConvParams,
    GemmOp,
    MaskGenOp,
    Trace,
    TraceHeader,
    UpdateOp,
    VectorOp,
)
from satsim.trace.workload import DEFAULT_WORKLOAD, Method, annotate, load_workload

__all__ = [
    "DEFAULT_WORKLOAD", "ConvParams", "GemmOp", "MaskGenOp", "Method", "Trace", "TraceHeader",
    "UpdateOp", "VectorOp", "annotate", "load_workload", "read_csv_workload", "read_trace",
    "write_trace",
]
