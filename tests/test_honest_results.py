"""Honest results: every sparsity request applied or refused, bounds named, scope stated."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from satsim import __version__
from satsim.api import run
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.trace import load_workload

MODELS = ["resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar", "resnet50-imagenet",
          "vgg16-cifar", "gpt2-small"]


def _cycles_by_phase(report):
    return {t.phase: t.cycles for t in report.result.phase_totals()}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", ["bdwp", "srste"])
def test_dense_capture_reannotated_equals_the_sparse_capture(model, method):
    """`--method M --sparsity 2:8` on a dense capture prunes exactly the layers the M capture
    pruned: same sparse layers, same cycles per phase as simulating the M capture itself."""
    dense = run(f"{model}-dense", method=method, sparsity="2:8")
    captured = run(f"{model}-{method}")
    assert dense.reannotated and not captured.reannotated
    assert dense.sparsity.sparse_layers == captured.sparsity.sparse_layers > 0
    assert dense.sparsity.dense_layers == captured.sparsity.dense_layers
    assert _cycles_by_phase(dense) == _cycles_by_phase(captured)


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
    """The JSON records the scope (GEMM-only, ideal memory, untimed records, inert knobs),
    the version, the resolved configs after --set, the overrides and the workload's hash."""
    report = run("resnet18-cifar-bdwp", overrides=["array.rows=16", "dataflow.interleave=false"])
    doc = report.to_json()
    trace = load_workload("resnet18-cifar-bdwp")
    kinds = [r.kind for r in trace.records if r.kind != "gemm"]
    assert doc["scope"]["totals"] == "GEMM-only" and doc["scope"]["memory"] == "ideal"
    assert doc["scope"]["not_timed"] == {k: kinds.count(k) for k in set(kinds)}
    assert {"sore", "vector", "numerics", "dataflow.pregenerate",
            "dataflow.offline_schedule"} <= set(doc["scope"]["no_effect"])
    assert doc["satsim_version"] == __version__
    assert doc["hardware_config"]["array"] == {"rows": 16, "cols": 32, "timing": "satsim"}
    assert doc["dataflow_config"]["interleave"] is False
    assert doc["overrides"] == ["array.rows=16", "dataflow.interleave=false"]
    path = shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"]
    assert doc["workload_file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    text = report.text()
    assert "GEMMs (FF, BP, WG) on the STCE only, ideal memory" in text
    assert "not timed:" in text and "no effect yet:" in text
    json.dumps(doc)  # serializable as is


def test_setting_an_inert_knob_warns():
    """`--set sore.lanes=64` changes no number yet, so the run says so."""
    report = run(overrides=["sore.lanes=64"])
    assert any("sore.lanes has no effect yet" in w for w in report.warnings)


def test_workload_without_gemms_runs_with_a_warning(tmp_path):
    """A trace of vector work only: exit 0, zero cycles, and a warning."""
    path = tmp_path / "vec.jsonl"
    path.write_text('{"format":"satsim.trace","version":1,"name":"v"}\n'
                    '{"kind":"vector","phase":"FF","layer":"relu","op":"relu","elements":8}\n'
                    '{"kind":"end","records":1}\n')
    report = run(path)
    assert report.result.cycles == 0
    assert any("no GEMMs" in w for w in report.warnings)


def test_importer_notes_become_warnings():
    """Columns the CSV importer ignored or read by position are reported, never silent."""
    topologies = Path(__file__).parent / "data" / "scalesim" / "topologies"
    report = run(topologies / "conv_nets" / "mobilnet_4k.csv", "scalesim", "scalesim-ws")
    assert any("ignored column: column 9" in w for w in report.warnings)
    report = run(topologies / "deepbench" / "DeepBenchConv" / "OCR.csv", "scalesim",
                 "scalesim-ws")
    assert any("read as 'IFMAP Height'" in w for w in report.warnings)


def test_a_configured_memory_system_is_not_silently_ignored(cli):
    """Until `satsim run` simulates DRAM and buffers, configuring them is an error (exit 2,
    one line) rather than an ideal-memory number under a non-ideal label."""
    done = cli("run", "--set", "memory.dram={channels: 4, gbps_per_channel: 19.2, "
               "efficiency: 0.8, latency_ns: 100}", "--set",
               "memory.buffers={b: {kib: 512, holds: [activations, weights, outputs, vector]}}")
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: hardware 'sat': memory: DRAM and buffers")
    assert done.stderr.count("\n") == 1
