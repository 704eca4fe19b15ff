"""One call from names and files to a report: what ``satsim run`` does, for Python users.

Loads the hardware, dataflow and workload, applies ``--method``/``--sparsity``, simulates the
run and its dense twin, and gathers what a reader needs to trust the numbers: the sparsity
actually applied, the ideal bounds, what is and is not modelled, and where the inputs came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from satsim import __version__
from satsim.config import (
    NO_EFFECT_YET,
    UNTIMED,
    HardwareConfig,
    load_machine,
    parse_overrides,
)
from satsim.errors import SatsimError
from satsim.files import file_sha256
from satsim.machine.costs import Machine
from satsim.machine.mac import mac_engine
from satsim.report.bounds import ideal_bounds
from satsim.report.result import RunResult
from satsim.report.summary import RunReport, Scope
from satsim.schedule.choices import Schedule, read_schedule
from satsim.simulate import simulate
from satsim.trace.schema import Trace
from satsim.trace.workload import (
    DEFAULT_WORKLOAD,
    Method,
    annotate,
    load_workload,
    resolve_workload,
    summarize_sparsity,
    trace_method,
    trace_pattern,
)
from satsim.types import NMPattern, Phase

if TYPE_CHECKING:
    from satsim.report.trace_events import Cut


def reannotate(trace: Trace, method: str | None, sparsity: str | None,
               hw: HardwareConfig) -> Trace:
    """Apply ``--method`` / ``--sparsity`` (the trace unchanged when neither is given).

    ``--sparsity`` alone keeps the trace's sparse method (bdwp for a dense trace);
    ``--method`` alone keeps the trace's pattern (2:8, SAT's headline, for a dense trace).
    """
    if method is None and sparsity is None:
        return trace
    try:
        pattern = NMPattern.parse(sparsity) if sparsity is not None else trace_pattern(trace)
    except ValueError as exc:
        raise SatsimError(str(exc), source="--sparsity") from None
    if method is not None:
        chosen = Method(method)
        if chosen is Method.DENSE and sparsity is not None and pattern is not None:
            raise SatsimError(f"--method dense prunes no layer, so {pattern} has no meaning: "
                              "drop one of the two", source="--sparsity")
    elif pattern is None:
        chosen = Method.DENSE
    else:
        recorded = trace_method(trace)
        chosen = Method(recorded) if recorded in ("bdwp", "srste") else Method.BDWP
    if chosen is not Method.DENSE:
        if pattern is None:
            if sparsity is not None:
                raise SatsimError(f"--method {chosen} needs an N:M pattern, not dense",
                                  source="--sparsity")
            pattern = NMPattern(2, 8)  # SAT's headline setting
        problem = hw.pattern_problem(pattern)
        if problem is not None:
            raise SatsimError(problem, source="--sparsity")
    return annotate(trace, chosen, pattern if chosen is not Method.DENSE else None)


def run(workload: str | Path = DEFAULT_WORKLOAD, hardware: str | Path = "sat",
        dataflow: str | Path | None = None, *, method: str | None = None,
        sparsity: str | None = None, overrides: Sequence[str] = (), baseline: bool = True,
        timeline: bool = False, schedule: str | Path | None = None,
        cut: Cut | None = None) -> RunReport:
    """Simulate ``workload`` on ``hardware`` under ``dataflow`` and report it honestly.

    Parameters
    ----------
    workload, hardware, dataflow
        Shipped names or files (trace ``.jsonl`` or ``.csv``; YAML presets); no dataflow: the
        one the hardware names.
    method, sparsity
        Re-annotate the trace's prunable weights (see :func:`reannotate`).
    overrides
        ``dotted.path=value`` items; ``dataflow.*`` go to the dataflow, the rest to the hardware.
    baseline
        Also simulate the dense twin of a sparse run (speedup and bounds); off, they are None.
    timeline
        Also keep every task's times from the one-pass clock, as a Chrome trace-event
        document (:attr:`RunReport.timeline`, :class:`~satsim.report.trace_events.TraceEvents`).
    schedule
        A schedule file (``satsim schedule --out``) for this workload, hardware and dataflow:
        the run uses its choices instead of searching (:mod:`satsim.schedule.choices`).
    cut
        The part of the run the timeline keeps (all of it: None).
    """
    hw, policy, path, recorded, trace = _inputs(workload, hardware, dataflow, method,
                                                sparsity, overrides)
    fixed = read_schedule(schedule, trace, hw, policy) if schedule is not None else None
    if cut is not None:  # checked before the run, not after it
        if not timeline:
            raise SatsimError("cuts the timeline: ask for one too (timeline=True)",
                              source="cut")
        if cut.layers is not None:
            from satsim.report.trace_events import check_layers
            check_layers(cut.layers, trace)
    result = simulate(trace, hw, policy, fixed, record=timeline)
    compute_only = None
    if hw.memory != "ideal":
        compute_only = simulate(trace, hw.model_copy(update={"memory": "ideal"}), policy)
    pattern = trace_pattern(trace)
    dense = bounds = None
    if pattern is not None and baseline:
        dense = simulate(annotate(trace, Method.DENSE, None), hw, policy)
        bounds = ideal_bounds(result, dense, trace_method(trace), pattern)
    provenance = {
        "satsim_version": __version__, "overrides": list(overrides),
        "method_option": method, "sparsity_option": sparsity,
        "workload_file": {"path": str(path.resolve()), "sha256": file_sha256(path)},
        "hardware_config": hw.model_dump(mode="json"),
        "dataflow_config": policy.model_dump(mode="json"),
    }
    hint = None
    if pattern is None and method is None and sparsity is None:
        hint = _sparse_hint(trace, hw)
    scope = _scope(trace, hw)
    events = None
    if timeline:
        from satsim.report.trace_events import TraceEvents
        events = TraceEvents(result.records, Machine.from_hardware(hw), hw.clock_mhz,
                             trace.name, cut)
        if events.cycles != result.cycles:  # played back, the skipped periods end alike
            raise AssertionError("the timeline's tasks and the run end at different cycles")
    return RunReport(result=result, compute_only=compute_only, dense=dense, bounds=bounds,
                     sparsity=summarize_sparsity(trace) if pattern is not None else None,
                     reannotated=trace is not recorded, scope=scope, provenance=provenance,
                     warnings=_warnings(recorded, path, overrides, scope.no_effect, result),
                     hint=hint, engine=_engine(hw), units=unit_names(hw),
                     strided_bp=hw.conv.strided_bp, timeline=events)


def _inputs(workload, hardware, dataflow, method, sparsity, overrides):
    """The hardware, the dataflow, the workload's path, its trace as recorded and as run."""
    hw, policy = load_machine(hardware, dataflow, overrides)
    path = resolve_workload(workload)
    recorded = load_workload(path)
    return hw, policy, path, recorded, reannotate(recorded, method, sparsity, hw)


def schedule(workload: str | Path = DEFAULT_WORKLOAD, hardware: str | Path = "sat",
             dataflow: str | Path | None = None, *, method: str | None = None,
             sparsity: str | None = None, overrides: Sequence[str] = ()) -> Schedule:
    """The offline scheduler's choices for the run :func:`run` would simulate (what
    ``satsim schedule`` writes; see :mod:`satsim.schedule.choices`)."""
    from satsim.search.evaluate import evaluate
    hw, policy, _, _, trace = _inputs(workload, hardware, dataflow, method, sparsity,
                                      overrides)
    return evaluate(trace, hw, policy).schedule


def _engine(hw: HardwareConfig) -> str:
    """The MAC engine in a few words: ``32x32 systolic``, ``2 x 32x32 systolic``."""
    count = hw.engine.count
    return (f"{count} x " if count > 1 else "") + mac_engine(hw.engine).describe()


def unit_names(hw: HardwareConfig) -> dict[str, tuple[str, str]]:
    """Per Program unit, the name the machine gives it and what it is, for the reports."""
    return {"stce": (hw.routes.FF, mac_engine(hw.engine).describe()),
            "sore": (hw.routes.maskgen, "mask generator"),
            "vector": (next((n for n, u in hw.units.items() if u is hw.vector), "vector"),
                       "vector unit"),
            "dram": ("DRAM", "moving data")}


def _scope(trace: Trace, hw: HardwareConfig) -> Scope:
    kinds = Counter(r.kind for r in trace.records)
    present = {op.phase for op in trace.gemms}
    phases = ", ".join(p.value for p in Phase if p in present) or "none"
    timed = [f"GEMMs ({phases}) in SCALE-Sim 3.0.0's compute-cycle conventions"
             if hw.scalesim_timing else
             f"GEMMs ({phases}) on {hw.routes.FF} ({_engine(hw)})"]
    causal = [op for op in trace.gemms if op.causal]
    if causal:  # the explicit lowering computes the masked scores too, as PyTorch does
        macs, real = sum(op.macs for op in causal), sum(op.real_macs for op in causal)
        timed.append(f"causal attention as {len(causal)} explicit GEMMs computing every "
                     f"score: {1 - real / macs:.1%} of their {macs:,} MACs are masked out")
    not_timed, no_effect = {}, dict(NO_EFFECT_YET)
    served: dict[str, list[str]] = {name: [] for name in hw.units}  # unit -> its routes
    for route, what in (("maskgen", "N:M mask generation (MASK)"), ("vector", "vector work (VEC)"),
                        ("update", "weight updates (WU)")):
        target = getattr(hw.routes, route)
        if target == UNTIMED:
            if kinds[route]:
                not_timed[route] = f"{kinds[route]} records (routes.{route}: {UNTIMED})"
            continue
        served[target].append(route)
        if kinds[route]:
            timed.append(f"{what} on {target}")
    for name, routes in served.items():  # a unit's fields: set as NAME.FIELD
        if name == hw.routes.FF:
            continue
        if not routes:
            no_effect[name] = "no route names it"
        elif not any(kinds[route] for route in routes):
            no_effect[name] = f"the trace has no {' or '.join(routes)} records"
    if not kinds["maskgen"] or hw.routes.maskgen == UNTIMED:
        no_effect["dataflow.pregenerate"] = "no mask generation is timed"
    elif hw.memory == "ideal" or not trace.has_graph:
        no_effect["dataflow.pregenerate"] = (
            "on ideal memory the SORE already runs ahead: its work waits only for the weights"
            if hw.memory == "ideal" else "without a tensor graph the records form a chain")
    if hw.memory != "ideal" and hw.memory.dram.dma == "private" and hw.engine.count == 1:
        no_effect["memory.dram.dma"] = f"unit {hw.routes.FF} has one instance: one queue"
    if hw.engine.sparsity.transposed_mask:
        no_effect[f"{hw.routes.FF}.sparsity.transposed_mask"] = (
            "no recipe uses one mask for FF and BP yet: BDWP builds BP's apart")
    if hw.memory != "ideal":
        for name, buffer in hw.memory.buffers.items():
            owner = buffer.private_to
            if owner is not None and hw.units[owner].count == 1:
                no_effect[f"memory.buffers.{name}.private_to"] = f"unit {owner} has one instance"
    if hw.memory == "ideal":
        memory = "ideal (operands always on chip: no transfers, no memory stalls)"
        if hw.unit_for("update") is None:
            no_effect["numerics"] = ("on ideal memory formats only decide whether updates "
                                     "write a low-precision copy, and updates are not timed")
        else:
            no_effect["numerics.accumulate"] = ("partial sums stay in the PEs on ideal memory "
                                                "(the format sizes their spills to a buffer)")
    else:
        queues = ("one DMA queue" if hw.dma_queues == 1 else
                  f"{hw.dma_queues} DMA queues (one per instance of {hw.routes.FF})")
        timed.append(f"DRAM transfers through {queues}, tiles sized to the buffers, "
                     "buffer bank ports pacing transfers and units")
        dram = hw.memory.dram
        buffers = ", ".join(f"{name} {b.kib:,} KiB"
                            f"{f' per {b.private_to} instance' if b.private_to else ''}"
                            f" ({'/'.join(b.holds)}"
                            f"{', double-buffered' if b.double_buffer else ''}, "
                            f"{b.bytes_per_cycle:,} B/cycle x {b.ports} port"
                            f"{'s' if b.ports > 1 else ''} per bank)"
                            for name, b in hw.memory.buffers.items())
        total = dram.channels * dram.gbps_per_channel * dram.efficiency
        memory = (f"DRAM {dram.channels} x {dram.gbps_per_channel:g} GB/s at "
                  f"{dram.efficiency:.0%} ({total:.4g} GB/s), {dram.latency_ns:g} ns latency; "
                  f"buffers {buffers}")
    if trace.has_graph:
        graph = (f"{len(trace.tensors)} tensors: each record waits for the writers of what "
                 "it reads, and for the readers of what it overwrites")
    else:
        no_effect["dataflow.offline_schedule"] = ("without a tensor graph the records form a "
                                                  "chain: there is no other order to try")
        why = ("trace format v1" if trace.header.version == 1
               else f"{trace.header.source or 'this trace'} has no tensor table")
        graph = f"none ({why}): the records form a sequential chain"
    return Scope(memory=memory, not_timed=not_timed, no_effect=no_effect,
                 timed=tuple(timed), graph=graph)


def _warnings(recorded: Trace, path: Path, overrides: Sequence[str],
              no_effect: dict[str, str], result: RunResult) -> tuple[str, ...]:
    """What the user should know although the run went through."""
    warnings = []
    if not result.rows:
        warnings.append(f"workload {recorded.name}: no unit of the hardware times any of its "
                        "records: nothing to time")
    elif not recorded.gemms:
        warnings.append(f"workload {recorded.name} has no GEMMs: only its other work is timed")
    notes = (("ignored_columns", "ignored column"), ("renamed_columns", "read by position"),
             ("scalesim_drops_sparsity", "SCALE-Sim would run this dense"))
    for key, what in notes:
        warnings += [f"{path.name}: {what}: {item}" for item in recorded.header.meta.get(key, ())]
    for key, _ in parse_overrides(list(overrides)):
        key = key.removeprefix("units.")  # a unit's field, as NAME.FIELD too
        why = next((why for knob, why in no_effect.items()
                    if key == knob or key.startswith(knob + ".")), None)
        if why:
            warnings.append(f"--set {key} has no effect: {why}")
    return tuple(warnings)


def _sparse_hint(trace: Trace, hw: HardwareConfig) -> str | None:
    """A flag that makes this dense trace sparse, if one does (it is tried, not guessed)."""
    for flags, method, pattern in ((("--sparsity", "2:8"), Method.BDWP, NMPattern(2, 8)),
                                   (("--sparsity", "2:4"), Method.BDWP, NMPattern(2, 4))):
        if hw.pattern_problem(pattern) is not None:
            continue
        try:
            annotate(trace, method, pattern)
        except SatsimError:
            continue
        return " ".join(flags)
    return None


def validate(workload: str | Path, hardware: str | Path = "sat",
             dataflow: str | Path | None = None, *, overrides: Sequence[str] = ()):
    """Recompute a captured step's dumped tensors on the modelled datapath and compare them
    with PyTorch's (what ``satsim validate`` does); see :mod:`satsim.functional.validate`.

    Returns
    -------
    satsim.functional.checks.Validation
        One check per layer, phase and tensor; ``passed`` when every one passes.
    """
    from satsim.functional.validate import validate as run_validation

    hw, policy = load_machine(hardware, dataflow, overrides)
    path = resolve_workload(workload)
    if path.suffix != ".jsonl":
        raise SatsimError("validate needs a captured trace (.jsonl) with a tensor dump",
                          source=path)
    return run_validation(load_workload(path), path, hw, policy)
