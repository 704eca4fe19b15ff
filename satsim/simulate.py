"""The public entry point: trace + hardware + dataflow -> :class:`RunResult`."""

from __future__ import annotations

from dataclasses import replace

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.energy.price import price_run
from satsim.machine.costs import Machine
from satsim.report.result import RunResult
from satsim.schedule.choices import Schedule
from satsim.schedule.steps import phase_of
from satsim.schedule.walk import OpPlan
from satsim.search.evaluate import evaluate
from satsim.timing.accounting import OpTiming
from satsim.trace.schema import GemmOp, MaskGenOp, Trace, UpdateOp, VectorOp
from satsim.trace.workload import trace_method, trace_pattern
from satsim.types import sparsity_label


def simulate(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
             schedule: Schedule | None = None, record: bool = False) -> RunResult:
    """Simulate one iteration of ``trace`` on ``hw`` under ``policy``, scheduled as
    ``schedule`` fixes it or as the offline scheduler chooses.

    Every record a unit of ``hw`` times is a row; records of work the hardware routes
    ``untimed`` are not (:func:`satsim.api.run` reports them). ``record``: keep every
    task's times for a timeline (:attr:`RunResult.records`).
    """
    run = evaluate(trace, hw, policy, schedule, record)
    rows, actions = [], {}
    for timing in run.rows:
        record, plan = trace.records[timing.record], run.ops[timing.record]
        if timing.unit is None:
            continue
        rows.append(_row(record, plan, timing))
        actions[timing.record] = _nested(plan.actions)
    busy = {unit.value: cycles for unit, cycles in run.busy.items()
            if cycles or _has(hw, unit.value)}
    count = Machine.from_hardware(hw).count
    result = RunResult(
        hardware=hw.name, dataflow=policy.name, workload=trace.name,
        sparsity=sparsity_label(trace_pattern(trace)), method=trace_method(trace),
        clock_mhz=hw.clock_mhz, pes=hw.pes, memory="ideal" if hw.memory == "ideal" else "dram",
        cycles=run.cycles, rows=tuple(rows), busy=busy,
        instances={unit.value: n for unit, n in count.items() if unit.value in busy},
        buffers={name: (cap, run.peak_bytes.get(name, 0)) for name, cap in run.capacity.items()},
        actions=actions, tasks=run.tasks, timed=run.timed, order=run.order,
        orders_tried=run.tried, schedule=run.schedule, records=run.records)
    return replace(result, energy=price_run(result, hw))


def _has(hw: HardwareConfig, unit: str) -> bool:
    return {"stce": True, "sore": hw.maskgen is not None, "vector": hw.vector is not None,
            "dram": hw.memory != "ideal"}[unit]


def _nested(actions: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (unit, action), n in actions.items():
        out.setdefault(unit, {})[action] = n
    return out


def _row(record, plan: OpPlan, t: OpTiming) -> dict:
    gemm = isinstance(record, GemmOp)
    mapping = plan.mapping
    if gemm:
        op, pattern = "gemm", mapping.pattern
    elif isinstance(record, VectorOp):
        op, pattern = record.op, None
    elif isinstance(record, UpdateOp):
        op, pattern = record.optimizer, None
    else:
        assert isinstance(record, MaskGenOp)
        op, pattern = f"mask {record.direction}", record.sparsity
    return {
        "index": t.record, "layer": record.layer, "phase": phase_of(record).value,
        "unit": t.unit.value,
        "op": op, "M": record.M if gemm else None, "K": record.K if gemm else None,
        "N": record.N if gemm else None, "batch": record.batch if gemm else None,
        "elements": None if gemm else record.elements, "sparsity": sparsity_label(pattern),
        "stationarity": mapping.stationarity.value if gemm else None,
        "lowering": mapping.lowering.value if gemm else None,
        "start": t.start, "end": t.end, "cycles": t.end - t.start, "busy_cycles": t.busy,
        "macs": mapping.macs if gemm else 0, "dense_macs": mapping.dense_macs if gemm else 0,
        "stall_dram": t.stall_dram, "stall_mask": t.stall_mask, "stall_dep": t.stall_dep,
        "stall_unit": t.stall_unit, "stall_buffer": t.stall_buffer,
        "dram_read_bytes": t.dram_read_bytes,
        "dram_write_bytes": t.dram_write_bytes,
    }
