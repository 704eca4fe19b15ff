"""The public entry point: trace + hardware + dataflow -> :class:`RunResult`."""

from __future__ import annotations

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.report.result import RunResult
from satsim.timing.engine import run_engine
from satsim.trace.schema import Trace
from satsim.trace.workload import trace_method, trace_pattern
from satsim.types import sparsity_label


def simulate(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> RunResult:
    """Simulate one iteration of ``trace`` on ``hw`` under ``policy``."""
    if hw.memory != "ideal":  # a configured knob must change the result, or fail
        raise SatsimError("DRAM and buffers are configured, but satsim run does not simulate "
                          "them yet: use --set memory=ideal", source=f"hardware {hw.name!r}",
                          field="memory")
    rows = [{
        "index": t.index, "layer": t.op.layer, "phase": t.op.phase.value, "M": t.op.M,
        "K": t.op.K, "N": t.op.N, "batch": t.op.batch,
        "sparsity": sparsity_label(t.mapping.pattern),
        "stationarity": t.mapping.stationarity.value, "lowering": t.mapping.lowering.value,
        "start": t.start, "end": t.end,
        "cycles": t.end - t.start, "macs": t.mapping.macs, "dense_macs": t.mapping.dense_macs,
    } for t in run_engine(trace, hw, policy)]
    return RunResult(
        hardware=hw.name, dataflow=policy.name, workload=trace.name,
        sparsity=sparsity_label(trace_pattern(trace)), method=trace_method(trace),
        clock_mhz=hw.clock_mhz, pes=hw.pes, rows=tuple(rows))
