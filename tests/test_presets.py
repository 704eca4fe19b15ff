"""The shipped presets beyond SAT: each is YAML only, runs by default with the dataflow it
names, and models what its design does differently."""

import math
from pathlib import Path

import pytest

from satsim.api import reannotate, run
from satsim.config import load_hardware
from satsim.trace.schema import MaskGenOp
from satsim.trace.workload import load_workload
from satsim.types import NMPattern

CSV = "name,M,K,N\nfc,64,128,32\n"


def test_tc_2of4_refuses_a_pattern_its_tensor_cores_cannot_run(tmp_path, cli):
    """`--sparsity 1:4` on tc-2of4 is one error line naming the patterns its MMA unit runs,
    exit 2."""
    (tmp_path / "w.csv").write_text(CSV)
    done = cli("run", "--hw", "tc-2of4", "--workload", "w.csv", "--sparsity", "1:4",
               cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: --sparsity: 1:4: the MAC engine (tc) runs 2:4 only"]


def test_tc_2of4_makes_its_masks_on_the_vector_unit_at_its_cost():
    """No mask generator: each mask record costs the SIMT lanes ceil(weights / lanes) x the
    table's cycles per weight (on ideal memory, exactly), reported as the vector unit's MASK
    work, its lane operations counted for the energy model."""
    hw = load_hardware("tc-2of4")
    simt = hw.units["simt"]
    report = run("resnet9-cifar-bdwp", "tc-2of4", sparsity="2:4", overrides=["memory=ideal"])
    masks = [r for r in report.result.rows if r["phase"] == "MASK"]
    trace = reannotate(load_workload("resnet9-cifar-bdwp"), None, "2:4", hw)
    expected = sum(math.ceil(r.elements / simt.lanes) * simt.cycles_per_element["maskgen"]
                   for r in trace.records if isinstance(r, MaskGenOp))
    assert masks and {r["unit"] for r in masks} == {"vector"}
    assert sum(r["busy_cycles"] for r in masks) == expected > 0
    assert report.result.busy["vector"] >= expected and "sore" not in report.result.busy
    weights = sum(r.elements for r in trace.records if isinstance(r, MaskGenOp))
    lane_ops = report.result.action_totals()["vector"]["lane_op"]
    assert lane_ops >= weights * simt.cycles_per_element["maskgen"]


@pytest.mark.parametrize(("name", "sparsity"), [
    ("tc-2of4", "2:4"), ("vegeta", "1:4"), ("sat-x2", None), ("tpu-v4", "dense")])
def test_a_preset_runs_with_the_dataflow_it_names(name, sparsity):
    """`satsim run --hw NAME` needs no --dataflow: the preset names its own."""
    report = run("resnet9-cifar-bdwp", name, sparsity=sparsity)
    assert report.result.dataflow == load_hardware(name).dataflow and report.result.cycles > 0


def test_a_dense_engine_refuses_every_pattern(tmp_path, cli):
    """tpu-v4's MXUs run dense only: an N:M trace is one error line saying so."""
    (tmp_path / "w.csv").write_text(CSV)
    done = cli("run", "--hw", "tpu-v4", "--workload", "w.csv", "--sparsity", "2:4",
               cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: --sparsity: 2:4: the MAC engine (mxu) runs dense only"]


def test_vegeta_runs_exactly_its_n4_family():
    """VEGETA's engine runs 1:4 and 2:4 (and dense), not 3:4 nor 2:8."""
    hw = load_hardware("vegeta")
    assert hw.pattern_problem(None) is None
    assert [hw.pattern_problem(NMPattern.parse(p)) is None for p in ("1:4", "2:4", "3:4", "2:8")
            ] == [True, True, False, False]


def test_every_preset_with_a_vector_unit_prices_adamw():
    """Each shipped preset with a vector unit has an AdamW cost per parameter: the 12 fp32
    operations of its step (docs/assumptions.md), above SGD with momentum's."""
    presets = sorted(p.stem for p in (Path(__file__).parent.parent / "configs").glob("*.yaml"))
    priced = 0
    for name in presets:
        for unit in load_hardware(name).units.values():
            if unit.kind == "vector":
                table = unit.update_cycles_per_parameter
                assert table["adamw"] == 12 > table["sgd-momentum"], name
                priced += 1
    assert priced == len(presets) - 1  # all but scalesim, which times GEMMs only
