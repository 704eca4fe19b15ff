"""The machine as data: named units of registered kinds, routes from records to units, and
each MAC engine's N:M capability, validated once with errors that name the file and field."""

import pytest
import yaml

from satsim.api import run
from satsim.config import load_hardware
from satsim.config.units import NMSupport
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.types import NMPattern

SAT = shipped("configs", (".yaml",))["sat"]
CSV = "name,M,K,N\nfc,64,128,32\n"


def _machine(tmp_path, change) -> str:
    """The sat preset as a file, with ``change(doc)`` applied."""
    doc = yaml.safe_load(SAT.read_text())
    change(doc)
    path = tmp_path / "machine.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_every_record_kind_has_a_route_to_a_unit_of_its_kind():
    """The sat preset routes GEMMs of every phase to the systolic array, mask generation to
    the SORE, vector work and updates to the vector unit."""
    hw = load_hardware("sat")
    assert hw.engine is hw.units["array"] and hw.maskgen is hw.units["sore"]
    assert hw.unit_for("vector") is hw.unit_for("update") is hw.units["vector"]


@pytest.mark.parametrize(("change", "field", "reason"), [
    (lambda d: d["routes"].update(FF="stce"), "routes.FF",
     "no unit 'stce' to run forward GEMMs (units: array, sore, vector)"),
    (lambda d: d["routes"].update(maskgen="array"), "routes.maskgen",
     "unit 'array' is a systolic unit; N:M mask generators run on a maskgen or vector unit"),
    (lambda d: d["routes"].update(vector="sore"), "routes.vector",
     "unit 'sore' is a maskgen unit; vector ops run on a vector unit"),
    (lambda d: d["routes"].update(WG="untimed"), "routes.WG",
     "weight-gradient GEMMs cannot be left untimed"),
    (lambda d: d["routes"].pop("update"), "routes.update", "required key is missing"),
    (lambda d: d["units"]["array"].update(count=0), "units.array.count",
     "Input should be greater than 0"),
    (lambda d: d["units"]["sore"].update(count=2), "units.sore.count",
     "2 instances: several instances of a maskgen unit are not modelled yet"),
    (lambda d: d["memory"]["buffers"]["vec"].update(private_to="array"),
     "memory.buffers.vec.private_to",
     "vec holds vector for the instances of array only, so unit vector has no buffer for its "
     "vector"),
    (lambda d: d["memory"]["buffers"]["act"].update(private_to="stce"),
     "memory.buffers.act.private_to", "no unit 'stce' (units: array, sore, vector)"),
    (lambda d: d["units"]["sore"].update(kind="tpu"), "units.sore",
     "kind: expected one of systolic, mma, maskgen, vector"),
    (lambda d: d["units"]["array"].update(lanes=4), "units.array.lanes", "unknown key"),
    (lambda d: d["units"].update(memory={"kind": "maskgen", "lanes": 4}), "units.memory",
     "a unit's name is a word of letters, digits and _ that is no other key"),
    (lambda d: d["units"]["array"]["sparsity"].update(patterns=["2:4"]),
     "units.array.sparsity", "'N:M' needs max_m, and max_m bounds only 'N:M'"),
    (lambda d: d["units"]["array"].update(sparsity={"patterns": ["4:4"]}),
     "units.array.sparsity.patterns", "'4:4': needs 1 <= n < m <= 64"),
    (lambda d: d["units"]["array"].update(sparsity={"patterns": ["two:four"]}),
     "units.array.sparsity.patterns", "expected 'n:m' (e.g. 2:4), 'N:m' (e.g. N:4)"),
    (lambda d: d["memory"]["buffers"]["vec"].update(holds=["masks"]), "memory",
     "exactly one buffer must hold vector (held by: none)"),
])
def test_a_bad_machine_is_one_error_naming_the_file_and_field(tmp_path, change, field, reason):
    """A route to a unit that does not exist or cannot run that work, a GEMM phase left
    untimed, a missing route, a count of 0 (and, for now, several instances of a unit that is
    no MAC engine), an unknown kind or a parameter of another kind, a unit named like a
    hardware key, an N:M capability that does not read, a role no buffer serves, a buffer
    private to a unit that does not exist, and an instance with no buffer for an operand (a
    role another unit needs, in a buffer private to the array's instances)."""
    path = _machine(tmp_path, change)
    with pytest.raises(SatsimError) as info:
        load_hardware(path)
    assert str(info.value).startswith(f"{path}: {field}: ") and reason in str(info.value)


def test_the_old_layout_says_where_its_keys_went(tmp_path):
    """A file of the format before units and routes (`array:` at the top) is an error that
    says where the key went."""
    path = tmp_path / "old.yaml"
    path.write_text("name: old\nclock_mhz: 200\narray: {rows: 8, cols: 8}\n")
    with pytest.raises(SatsimError, match="array: a machine lists its units under units: now; "
                                          "this goes to units.<name> with kind: systolic"):
        load_hardware(path)


def test_a_unit_field_is_set_by_its_name():
    """`--set array.rows=16` is `--set units.array.rows=16`; an error in it names the
    option as written."""
    assert load_hardware("sat", [("array.rows", 16)]) == load_hardware(
        "sat", [("units.array.rows", 16)])
    with pytest.raises(SatsimError, match=r"^--set array.rows: Input should be greater than 0"):
        load_hardware("sat", [("array.rows", 0)])


@pytest.mark.parametrize(("patterns", "max_m", "runs", "refuses"), [
    (["2:4"], None, ["2:4"], ["1:4", "3:4", "2:8", "1:2"]),
    (["N:4"], None, ["1:4", "2:4", "3:4"], ["2:8", "1:2"]),
    (["N:M"], 8, ["1:2", "2:4", "3:8", "7:8"], ["1:16", "2:9"]),
    (["1:4", "2:4", "N:8"], None, ["1:4", "2:4", "1:8", "4:8"], ["3:4", "2:16"]),
    ([], None, [], ["1:2", "2:4"]),
])
def test_an_engine_runs_exactly_the_patterns_it_lists(patterns, max_m, runs, refuses):
    """A pattern ('2:4'), a family of one group size ('N:4') or every pattern up to max_m
    ('N:M'); dense always, and only dense when it lists none."""
    support = NMSupport(patterns=patterns, max_m=max_m)
    assert support.supports(None)
    assert all(support.supports(NMPattern.parse(p)) for p in runs)
    assert not any(support.supports(NMPattern.parse(p)) for p in refuses)


def test_a_pattern_the_engine_cannot_run_is_one_error_naming_what_it_runs(tmp_path, cli):
    """On an engine that runs 2:4 only, `--sparsity 1:4` is one error line that names the
    patterns it runs, exit 2; 2:4 runs, in the cycles of an engine of any N:M up to 16."""
    path = _machine(tmp_path, lambda d: d["units"]["array"].update(
        sparsity={"patterns": ["2:4"]}))
    (tmp_path / "w.csv").write_text(CSV)
    done = cli("run", "--hw", path, "--workload", "w.csv", "--sparsity", "1:4", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: --sparsity: 1:4: the MAC engine (array) runs 2:4 only"]
    only = run(tmp_path / "w.csv", path, sparsity="2:4")
    assert only.result.cycles == run(tmp_path / "w.csv", "sat", sparsity="2:4").result.cycles


def test_untimed_work_is_named_in_the_scope(tmp_path):
    """Work routed `untimed` is not timed, and the report says how many records it left out
    and which unit no route names."""
    report = run("resnet9-cifar-bdwp", overrides=["routes.maskgen=untimed", "memory=ideal"])
    assert report.scope.not_timed == {"maskgen": "14 records (routes.maskgen: untimed)"}
    assert report.scope.no_effect["sore"] == "no route names it"
    assert all(row["phase"] != "MASK" for row in report.result.rows)


def test_a_preset_names_the_dataflow_it_runs_by_default(tmp_path, cli):
    """`satsim run --hw scalesim` runs SCALE-Sim's WS dataflow, as `--dataflow scalesim-ws`
    does; `--dataflow` still picks another; sat's is sat."""
    (tmp_path / "w.csv").write_text(CSV)
    default = run(tmp_path / "w.csv", "scalesim")
    assert default.result.dataflow == "scalesim-ws"
    assert default.result.cycles == run(tmp_path / "w.csv", "scalesim", "scalesim-ws").result.cycles
    assert run(tmp_path / "w.csv", "scalesim", "scalesim-os").result.dataflow == "scalesim-os"
    assert run(tmp_path / "w.csv").result.dataflow == "sat"
    done = cli("run", "--hw", "scalesim", "--workload", "w.csv", cwd=tmp_path)
    assert done.returncode == 0 and "dataflow   scalesim-ws" in done.stdout


def test_a_default_dataflow_must_be_shipped(tmp_path):
    """A hardware file's `dataflow:` names a shipped dataflow; anything else is an error
    naming the field."""
    path = _machine(tmp_path, lambda d: d.update(dataflow="mine"))
    with pytest.raises(SatsimError, match=r"machine.yaml: dataflow: 'mine': not a shipped "
                                          r"dataflow \(naive, plain-ws, plain, sat, scalesim-is"):
        load_hardware(path)


@pytest.mark.parametrize(("overrides", "message"), [
    ([("array.kind", "vector")],
     "--set array.kind: units.array.lanes: required key is missing (applied to sat.yaml)"),
    ([("array.sparsity.patterns", [124])], "--set array.sparsity.patterns: YAML reads an "
                                           "unquoted 2:4 as the base-60 number 124: quote it"),
    ([("dataflow", "naive")], "--set dataflow: choose the dataflow with --dataflow"),
])
def test_a_bad_override_is_blamed_on_the_override(overrides, message):
    """An override that breaks another field (a kind without its parameters), an unquoted
    pattern YAML read as a number, and the hardware's default dataflow set by --set (it
    would change nothing: --dataflow chooses the dataflow) each name the --set item."""
    with pytest.raises(SatsimError) as info:
        load_hardware("sat", overrides)
    assert str(info.value).startswith(message)


def test_a_unit_added_by_an_override_is_set_by_its_name():
    """`--set units.npu={...}` then `--set npu.rows=8`: the second finds the new unit."""
    hw = load_hardware("sat", [
        ("units.npu", {"kind": "systolic", "rows": 4, "cols": 4, "sparsity": {"max_m": 4}}),
        ("npu.rows", 8), ("routes.FF", "npu"), ("routes.BP", "npu"), ("routes.WG", "npu")])
    assert (hw.engine.rows, hw.engine.cols) == (8, 4)


def test_a_transposed_mask_capability_is_declared_and_said_to_change_nothing_yet(tmp_path):
    """An engine may declare that it can use a weight's mask transposed; no recipe reads it
    yet (BDWP builds BP's mask apart), so a run that sets it lists it as having no effect."""
    (tmp_path / "w.csv").write_text(CSV)
    report = run(tmp_path / "w.csv", "sat", overrides=["array.sparsity.transposed_mask=true"])
    assert "array.sparsity.transposed_mask" in report.scope.no_effect
    assert "array.sparsity.transposed_mask" not in run(tmp_path / "w.csv", "sat").scope.no_effect
