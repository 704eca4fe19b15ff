"""Honest results: every sparsity request applied or refused, bounds named, scope stated."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from satsim import __version__
from satsim.api import run, unit_names
from satsim.config import load_hardware
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.trace import load_workload

# A run repeated by a later test (the hint's sparse run is a re-annotation run above, the
# captures' runs come back in the bound tests) reads its schedules back.
pytestmark = pytest.mark.usefixtures("schedule_cache")

MODELS = ["resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar", "resnet50-imagenet",
          "vgg16-cifar", "gpt2-small"]


def _by_phase(report):
    return {t.phase: t for t in report.result.phase_totals()}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", ["bdwp", "srste"])
def test_dense_capture_reannotated_equals_the_sparse_capture(model, method):
    """`--method M --sparsity 2:8` on a dense capture prunes exactly the layers the M capture
    pruned, generates their masks and applies the decay as it did: same sparse layers, the
    same iteration as simulating the M capture itself (every phase and unit, DRAM bytes,
    stalls), and the same dense twin."""
    dense = run(f"{model}-dense", method=method, sparsity="2:8")
    captured = run(f"{model}-{method}")
    assert dense.reannotated and not captured.reannotated
    assert dense.sparsity.sparse_layers == captured.sparsity.sparse_layers > 0
    assert dense.sparsity.dense_layers == captured.sparsity.dense_layers
    assert _by_phase(dense) == _by_phase(captured)
    assert dense.metrics() == captured.metrics()


def test_reannotation_reports_layers_and_macs():
    """The report says how many layers and which share of the MACs became sparse, and why the
    others stayed dense."""
    report = run("resnet18-cifar-dense", sparsity="2:8")
    text = report.text()
    assert "re-annotated: 19 of 21 weight layers sparse" in text
    assert "stem conv: conv1" in text and "skipped: fc" in text
    doc = report.to_json()
    assert doc["sparse_layers"]["sparse"] == 19 and doc["sparse_layers"]["weight_layers"] == 21
    assert 0.9 < doc["sparse_layers"]["sparse_mac_fraction"] < 1
    assert doc["method"] == "bdwp" and doc["sparsity"] == "2:8"


def test_pattern_that_prunes_nothing_is_an_error():
    """3:7 divides no channel count of ResNet-18: an error listing why, never a dense run."""
    with pytest.raises(SatsimError, match="makes no layer sparse.*not divisible by 7"):
        run("resnet18-cifar-dense", sparsity="3:7")


def test_sparsity_alone_keeps_the_traces_method():
    """`--sparsity 2:4` on an SR-STE capture stays SR-STE (BP dense), not silently BDWP."""
    report = run("resnet18-cifar-srste", sparsity="2:4")
    assert report.result.method == "srste"
    assert {r["sparsity"] for r in report.result.rows if r["phase"] == "BP"} == {"dense"}


@pytest.mark.parametrize("model", MODELS)
def test_dense_run_hint_works_when_followed(model, cli):
    """The hint printed after a dense run, added to the same command, gives a sparse run."""
    done = cli("run", "--workload", f"{model}-dense")
    assert done.returncode == 0, done.stderr
    hint = re.search(r"add (--sparsity \S+)", done.stdout)
    assert hint, done.stdout
    again = cli("run", "--workload", f"{model}-dense", *hint[1].split())
    assert again.returncode == 0, again.stderr
    assert "speedup over dense" in again.stdout and "re-annotated" in again.stdout


@pytest.mark.parametrize(("method", "uniform"), [("bdwp", 3 / 1.5), ("srste", 3 / 2.25)])
def test_uniform_bound_is_the_simulated_methods(method, uniform):
    """bdwp prints 3/(1+2N/M), srste 3/(2+N/M); the MAC ideal is this trace's dense MACs
    over its executed MACs."""
    report = run(f"resnet18-cifar-{method}")
    bounds = report.to_json()["bounds"]
    assert bounds["uniform_case"] == method
    assert bounds["uniform"] == pytest.approx(uniform)
    result = report.result
    assert bounds["mac_proportional"] == pytest.approx(result.dense_macs / result.macs)
    assert bounds["speedup"] == pytest.approx(report.dense.cycles / result.cycles)
    assert any("stay dense" in d for d in bounds["differences"])  # stem conv, classifier


def test_unequal_phases_are_named_as_a_difference():
    """With zero-inserted strided BP, ResNet-18's BP has more MACs than its FF: the bound's
    equal-phase assumption fails, and the report says by how much."""
    report = run("resnet18-cifar-bdwp", overrides=["conv.strided_bp=zero_insert"])
    (ratio,) = [d for d in report.bounds.differences if "FF:BP:WG" in d]
    assert "FF:BP:WG = 1.00 : 1.34 : 1.00" in ratio


def test_forward_only_workload_bound_is_m_over_n(tmp_path):
    """A forward-only CSV at 1:4 has the uniform bound 1/rho = 4."""
    csv = tmp_path / "fwd.csv"
    csv.write_text("name,M,K,N,sparsity\na,256,512,256,1:4\nb,256,512,256,1:4\n")
    bounds = run(csv).to_json()["bounds"]
    assert (bounds["uniform_case"], bounds["uniform"]) == ("forward", pytest.approx(4.0))
    assert bounds["mac_proportional"] == pytest.approx(4.0)


def test_json_says_what_is_modelled_and_where_inputs_came_from(tmp_path):
    """The JSON records the scope (units and memory timed, inert knobs), the version, the
    resolved configs after --set, the overrides and the workload's hash."""
    report = run("resnet18-cifar-bdwp", overrides=["array.rows=16", "dataflow.interleave=false"])
    doc = report.to_json()
    assert doc["schema"] == "satsim.result/2"
    assert doc["scope"]["memory"].startswith("DRAM 4 x 19.2 GB/s")
    assert doc["scope"]["not_timed"] == {}
    assert doc["scope"]["no_effect"] == {}
    assert doc["satsim_version"] == __version__
    assert doc["hardware_config"]["units"]["array"] == {
        "kind": "systolic", "count": 1, "rows": 16, "cols": 32, "timing": "satsim",
        "sparsity": {"patterns": ["N:M"], "max_m": 16, "transposed_mask": False}}
    assert doc["dataflow_config"]["interleave"] is False
    assert doc["overrides"] == ["array.rows=16", "dataflow.interleave=false"]
    path = shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"]
    assert doc["workload_file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    text = report.text()
    assert ("GEMMs (FF, BP, WG) on array (16x32 systolic); N:M mask generation (MASK) on sore"
            in text)
    json.dumps(doc)  # serializable as is


def test_units_the_hardware_lacks_are_named_not_timed():
    """Mask generation, vector work and updates routed `untimed`, on ideal memory: the GEMMs
    alone, and the report counts the records it left out and says which knobs changed
    nothing (the units no route names)."""
    report = run("resnet18-cifar-bdwp", overrides=[
        "routes.maskgen=untimed", "routes.vector=untimed", "routes.update=untimed",
        "memory=ideal"])
    trace = load_workload("resnet18-cifar-bdwp")
    doc = report.to_json()
    kinds = [r.kind for r in trace.records if r.kind != "gemm"]
    assert doc["scope"]["not_timed"] == {
        k: f"{kinds.count(k)} records (routes.{k}: untimed)"
        for k in ("maskgen", "vector", "update")}
    assert {r["phase"] for r in doc["ops"]} == {"FF", "BP", "WG"}
    assert "numerics" in doc["scope"]["no_effect"]
    assert {"sore", "vector"} <= doc["scope"]["no_effect"].keys()
    assert "not timed: maskgen: 38 records (routes.maskgen: untimed)" in report.text()


def test_setting_an_inert_knob_warns():
    """`--set dataflow.pregenerate=false` on a dense trace changes no number (it has no mask
    generation to run ahead), so the run says so; a knob of a unit with no work in the trace
    does too."""
    report = run("resnet18-cifar-dense", overrides=["dataflow.pregenerate=false"])
    assert any("dataflow.pregenerate has no effect: no mask generation is timed" in w
               for w in report.warnings)
    report = run("resnet18-cifar-dense", overrides=["sore.lanes=64"])
    assert any("sore.lanes has no effect: the trace has no maskgen records" in w
               for w in report.warnings)


def test_workload_without_gemms_runs_with_a_warning(tmp_path):
    """A trace of vector work only: exit 0, the vector unit's cycles, and a warning."""
    path = tmp_path / "vec.jsonl"
    path.write_text('{"format":"satsim.trace","version":1,"name":"v"}\n'
                    '{"kind":"vector","phase":"FF","layer":"relu","op":"relu","elements":64}\n'
                    '{"kind":"end","records":1}\n')
    report = run(path, overrides=["memory=ideal"])
    assert report.result.cycles == 64 // 32  # 64 elements on 32 lanes, 1 cycle each
    assert any("no GEMMs" in w for w in report.warnings)
    report = run(path, overrides=["routes.vector=untimed", "routes.update=untimed"])
    assert report.result.cycles == 0
    assert any("nothing to time" in w for w in report.warnings)


def test_importer_notes_become_warnings():
    """Columns the CSV importer ignored or read by position are reported, never silent."""
    topologies = Path(__file__).parent / "data" / "scalesim" / "topologies"
    report = run(topologies / "conv_nets" / "mobilnet_4k.csv", "scalesim", "scalesim-ws")
    assert any("ignored column: column 9" in w for w in report.warnings)
    report = run(topologies / "deepbench" / "DeepBenchConv" / "OCR.csv", "scalesim",
                 "scalesim-ws")
    assert any("read as 'IFMAP Height'" in w for w in report.warnings)


def test_the_memory_system_is_simulated_and_ideal_memory_stays_selectable():
    """The SAT preset's DRAM and buffers make the iteration longer than its compute alone,
    which the report gives side by side; `--set memory=ideal` gives that compute-only run."""
    real = run("resnet18-cifar-bdwp")
    ideal = run("resnet18-cifar-bdwp", overrides=["memory=ideal"])
    assert real.compute_only.cycles == ideal.result.cycles < real.result.cycles
    assert ideal.compute_only is None and ideal.metrics()["compute_only_cycles"] == (
        ideal.result.cycles)
    assert real.metrics()["dram_read_bytes"] > 0 == ideal.metrics()["dram_read_bytes"]
    assert "memory adds" in real.text() and "memory     ideal" in ideal.text()
    units = real.result.by_unit()
    assert list(units.index) == ["stce", "sore", "vector", "dram"]
    assert units.loc["dram", "busy_cycles"] == real.metrics()["dram_busy_cycles"] > 0
    assert (units["utilization"] <= 1).all() and list(ideal.result.by_unit().index) == [
        "stce", "sore", "vector"]


def test_scalesim_timing_with_a_memory_system_is_an_error(cli):
    """SCALE-Sim's compute-cycle conventions assume ideal memory: configuring DRAM with them
    is an error (exit 2, one line), never a mixed number."""
    done = cli("run", "--hw", "scalesim", "--dataflow", "scalesim-ws", "--set",
               "memory.dram={channels: 4, gbps_per_channel: 19.2, efficiency: 0.8, "
               "latency_ns: 100}", "--set",
               "memory.buffers={b: {kib: 512, holds: [activations, weights, outputs, vector], "
               "bytes_per_cycle: 1024}}")
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and "use memory: ideal" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(("setting", "field"), [
    ("memory.buffers.out.kib=1", "memory.buffers.out.kib"),
    ("memory.dram.gbps_per_channel=0", "memory.dram.gbps_per_channel"),
    ("memory.dram.gbps_per_channel=-19.2", "memory.dram.gbps_per_channel"),
    ("memory.dram.gbps_per_channel=0.1", "memory.dram.gbps_per_channel"),
    ("vector.cycles_per_element={relu: 1}", "vector.cycles_per_element.batchnorm"),
    ("vector.update_cycles_per_parameter={sgd: 1}",
     "vector.update_cycles_per_parameter.sgd-momentum"),
])
def test_a_machine_that_cannot_run_the_workload_is_one_error_line(cli, setting, field):
    """A buffer too small for one tile, a bandwidth of zero, below zero or below a byte per
    cycle, a vector operation or optimizer without a cost: exit 2, one line naming the
    field."""
    done = cli("run", "--set", setting)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert field in done.stderr


# --- stalls and idle cycles --------------------------------------------------------------

_TRACKS = {1: "stce", 2: "sore", 3: "vector"}  # satsim.report.timeline's unit tracks


def _unit_tasks(timeline) -> dict[str, list[tuple[int, int]]]:
    """Per compute unit, its tasks' (start, end) cycles in the run's timeline."""
    tasks: dict[str, list[tuple[int, int]]] = {unit: [] for unit in _TRACKS.values()}
    for event in timeline.document()["traceEvents"]:
        if event.get("ph") == "X" and event["tid"] in _TRACKS:
            args = event["args"]
            tasks[_TRACKS[event["tid"]]].append((args["start_cycle"], args["end_cycle"]))
    return tasks


def _slow_port_gemms(tmp_path):
    """Two GEMMs on the sat preset's DRAM with a slow activation buffer: DRAM, dependency and
    buffer-port stalls all occur."""
    csv = tmp_path / "g.csv"
    csv.write_text("name,M,K,N,sparsity\nfc1,128,512,256,2:8\nfc2,64,256,512,\n")
    return run(csv, "sat", overrides=["memory.buffers.act.bytes_per_cycle=16"],
               baseline=False, timeline=True)


@pytest.mark.parametrize("case", ["resnet9 on ideal memory", "GEMMs with slow buffer ports"])
def test_each_units_idle_cycles_are_read_from_the_timeline(case, tmp_path):
    """A compute unit's idle cycles, checked against the run's timeline: none of
    its causes is negative; after its last op is the iteration minus the end of its last
    task; the rest but buffer-port stalls (idle within a task) is the iteration minus its
    tasks' time; a unit with no task is idle the whole iteration. The JSON and the metrics
    carry the same numbers."""
    if case.startswith("resnet9"):
        report = run("resnet9-cifar-bdwp", "sat-small", baseline=False, timeline=True)
    else:
        report = _slow_port_gemms(tmp_path)
    res = report.result
    doc, metrics = report.to_json(), report.metrics()
    causes_seen, idle_units = set(), set()
    for unit, tasks in _unit_tasks(report.timeline).items():
        idle, causes = res.idle_cycles(unit), res.idle_by_cause(unit)
        assert doc["units"][unit]["idle_cycles"] == metrics[f"{unit}_idle_cycles"] == idle
        assert causes == doc["units"][unit]["idle_by_cause"]
        assert min(causes.values()) >= 0
        assert causes["after_last_op"] == res.cycles - max((end for _, end in tasks), default=0)
        assert idle - causes["buffer"] == res.cycles - sum(end - start for start, end in tasks)
        if not tasks:
            assert idle == causes["after_last_op"] == res.cycles
            idle_units.add(unit)
        causes_seen |= {c for c, v in causes.items() if v}
    expected = {"dep", "after_last_op"} | ({"dram", "buffer"} if case.startswith("GEMMs")
                                           else set())
    assert expected <= causes_seen  # the case exercises what it claims to
    assert bool(idle_units) == case.startswith("GEMMs")  # GEMMs alone: no SORE, no vector work


def _huge_result():
    """A made-up result whose stalls and cycles run to twelve digits and more."""
    from satsim.report.result import OP_COLUMNS, RunResult

    def row(index, phase, unit, busy, **stalls):
        base = dict.fromkeys(OP_COLUMNS, 0) | {"index": index, "layer": f"l{index}",
                                                "phase": phase, "unit": unit, "op": "gemm",
                                                "busy_cycles": busy}
        return base | stalls

    rows = (row(0, "FF", "stce", 10**12, stall_dram=15_760_067, stall_dep=122_421_324),
            row(1, "VEC", "vector", 123_456_789_012, stall_dep=999_999_999_999,
                stall_unit=10**15))
    return RunResult(hardware="hw", dataflow="df", workload="w", sparsity="dense",
                     method="dense", clock_mhz=200.0, pes=1024, memory="ideal",
                     cycles=2 * 10**12, rows=rows,
                     busy={"stce": 10**12, "vector": 123_456_789_012})


def test_text_tables_size_every_column_from_its_numbers():
    """However large the numbers, the per-phase and per-unit tables keep two spaces between
    columns: split on them, each line gives back exactly its cells (15,760,067 and
    122,421,324 never print as one)."""
    from satsim.report.summary import _phase_table, _unit_table

    res, names = _huge_result(), unit_names(load_hardware("sat"))
    phase = [re.split(r" {2,}", line) for line in _phase_table(res, names)]
    assert {len(cells) for cells in phase} == {11}
    assert phase[1][6:8] == ["15,760,067", "122,421,324"]
    assert phase[2][3] == "123,456,789,012" and phase[2][7] == "999,999,999,999"
    unit = [re.split(r" {2,}", line) for line in _unit_table(res, names)[:-1]]
    assert {len(cells) for cells in unit} == {9}
    assert unit[2][3:6] == ["1,876,543,210,988", "0", "999,999,999,999"]
    widths = {len(line) for line in _phase_table(res, names)}
    assert len(widths) == 1  # every line as wide: the columns line up


def test_a_unit_with_several_instances_is_busy_over_all_their_cycles():
    """Two STCEs of 16 PEs in a 100-cycle iteration, busy 150 cycles between them (summed):
    busy 75 % of their 200 instance-cycles, idle 50 of them; a FF phase of 1,800 MACs in
    those 150 cycles used 75 % of an array's MAC slots while busy, 56.25 % of both arrays'
    over the iteration. The JSON and the per-unit table say so."""
    from satsim.report.result import OP_COLUMNS, RunResult
    from satsim.report.summary import _unit_table

    row = dict.fromkeys(OP_COLUMNS, 0) | {"index": 0, "layer": "l0", "phase": "FF",
                                          "unit": "stce", "op": "gemm", "busy_cycles": 150,
                                          "macs": 1800, "stall_dep": 20}
    res = RunResult(hardware="hw", dataflow="df", workload="w", sparsity="dense",
                    method="dense", clock_mhz=100.0, pes=32, memory="ideal", cycles=100,
                    rows=(row,), busy={"stce": 150}, instances={"stce": 2})
    assert res.unit_utilization("stce") == 0.75 and res.idle_cycles("stce") == 50
    assert res.idle_by_cause("stce") == {"dram": 0, "dep": 20, "mask": 0, "buffer": 0,
                                         "after_last_op": 30}
    assert res.by_phase().loc["FF", "utilization"] == 0.75
    assert res.utilization == 0.5625
    assert res.to_json()["units"]["stce"] | {"idle_by_cause": None} == {
        "instances": 2, "busy_cycles": 150, "utilization": 0.75, "idle_cycles": 50,
        "idle_by_cause": None}
    table = _unit_table(res, unit_names(load_hardware("sat")))
    assert table[1].startswith("array (32x32 systolic) x 2") and "x its instances" in table[-1]
