"""Config layer: presets, overrides and errors that name the file, the field and the reason."""

import pytest

from satsim.config import load_dataflow, load_hardware, parse_overrides
from satsim.errors import SatsimError
from satsim.types import Phase, Stationarity


def test_sat_preset_matches_the_documented_schema():
    hw = load_hardware("sat")
    assert (hw.name, hw.clock_mhz, hw.engine.rows, hw.engine.cols) == ("sat", 200, 32, 32)
    assert (hw.engine.sparsity.max_m, hw.maskgen.lanes, hw.vector.lanes) == (16, 32, 32)
    assert {name: unit.kind for name, unit in hw.units.items()} == {
        "array": "systolic", "sore": "maskgen", "vector": "vector"}
    assert hw.routes.model_dump() == {"FF": "array", "BP": "array", "WG": "array",
                                      "maskgen": "sore", "vector": "vector", "update": "vector"}
    dram = hw.memory.dram
    assert (dram.channels, dram.gbps_per_channel, dram.efficiency, dram.latency_ns) == (
        4, 19.2, 0.8, 100)
    assert {name: (b.kib, b.holds) for name, b in hw.memory.buffers.items()} == {
        "act": (1024, ["activations"]), "wgt": (512, ["weights"]), "out": (512, ["outputs"]),
        "vec": (256, ["vector"]), "msk": (128, ["masks"])}
    assert (hw.numerics.operand, hw.numerics.accumulate, hw.numerics.master) == (
        "fp16", "fp32", "fp32")


def test_dataflow_presets():
    """sat: every optimization; naive: none, fixed WS; plain: SAT's array mapping (folds
    overlapped), ops one at a time in trace order."""
    sat, naive, plain = load_dataflow("sat"), load_dataflow("naive"), load_dataflow("plain")
    assert sat.stationarity_for(Phase.FF) is None and sat.interleave
    assert sat.interleave_folds and sat.interleave_ops and sat.offline_schedule
    assert naive.stationarity_for(Phase.BP) is Stationarity.WS and not naive.interleave
    assert not (naive.interleave_folds or naive.interleave_ops)
    assert not (naive.pregenerate or naive.offline_schedule)
    assert (plain.interleave_folds, plain.interleave_ops, plain.offline_schedule) == (
        True, False, False)


def test_interleave_halves_are_both_given_or_neither():
    """`interleave` is a bool for both halves, or a mapping naming each."""
    with pytest.raises(SatsimError, match="interleave.ops: required key is missing"):
        load_dataflow("sat", [("interleave", {"folds": True})])
    half = load_dataflow("sat", [("interleave", {"folds": False, "ops": True})])
    assert (half.interleave_folds, half.interleave_ops) == (False, True)


def test_configs_are_frozen():
    hw = load_hardware("sat")
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        hw.clock_mhz = 1


def test_overrides_parse_yaml_scalars():
    assert parse_overrides(["array.rows=16", "interleave=false", "name=x y"]) == [
        ("array.rows", 16), ("interleave", False), ("name", "x y")]


def test_override_changes_the_field():
    assert load_hardware("sat", [("array.cols", 64)]).engine.cols == 64
    assert load_hardware("sat", [("units.array.cols", 64)]).engine.cols == 64


def test_yaml_file_by_path(tmp_path):
    text = (load_hardware("sat").model_dump_json())
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace('"name":"sat"', '"name":"mine"'))  # JSON is YAML
    assert load_hardware(str(path)).name == "mine"


@pytest.mark.parametrize(("override", "field", "reason"), [
    (("array.rows", 0), "array.rows", "greater than 0"),
    (("array.depth", 3), "array.depth", "unknown key"),
    (("clock_mhz", "fast"), "clock_mhz", "valid number"),
    (("array.sparsity.max_m", 1), "array.sparsity.max_m", "greater than or equal to 2"),
    (("memory", "hbm"), "memory", "'ideal'"),
])
def test_bad_values_name_the_override_field_and_reason(override, field, reason):
    """A bad --set value is blamed on the override (not on the shipped preset it was applied
    to), with the field and the reason."""
    with pytest.raises(SatsimError) as info:
        load_hardware("sat", [override])
    message = str(info.value)
    assert message.startswith(f"--set {field}: ") and reason in message
    assert "(applied to sat.yaml)" in message


def test_bad_value_in_a_file_names_file_and_field(tmp_path):
    """A bad value written in a YAML file names that file and the field."""
    path = tmp_path / "hw.yaml"
    path.write_text(load_hardware("sat").model_dump_json().replace('"rows":32', '"rows":0'))
    with pytest.raises(SatsimError,
                       match=r"hw.yaml: units.array.rows: Input should be greater than 0"):
        load_hardware(path)


def test_per_phase_stationarity_error_names_the_phase():
    with pytest.raises(SatsimError, match=r"stationarity\.BP: Input should be"):
        load_dataflow("sat", [("stationarity", {"BP": "xs"})])


def test_missing_key(tmp_path):
    path = tmp_path / "hw.yaml"
    path.write_text("name: x\nclock_mhz: 100\n")
    with pytest.raises(SatsimError, match=r"hw.yaml: units: required key is missing"):
        load_hardware(path)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\narray: {rows: 4, cols: 4\nclock_mhz: 1\n")
    with pytest.raises(SatsimError, match=r"bad.yaml: line \d+: malformed YAML"):
        load_hardware(path)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(SatsimError, match=r"no such file or preset \(shipped: .*sat"):
        load_hardware("nope")


MEMORY = {"dram": {"channels": 4, "gbps_per_channel": 19.2, "efficiency": 0.8, "latency_ns": 100},
          "buffers": {"act": {"kib": 1024, "holds": ["activations", "vector"],
                              "bytes_per_cycle": 1024, "ports": 2},
                      "wgt": {"kib": 512, "holds": ["weights"],
                              "bytes_per_cycle": 512, "ports": 2},
                      "out": {"kib": 512, "holds": ["outputs"],
                              "bytes_per_cycle": 512, "ports": 2}}}


def test_memory_is_ideal_or_dram_and_buffers():
    """`memory` takes 'ideal' or a DRAM and buffer description, each role in one buffer."""
    hw = load_hardware("sat", [("memory", MEMORY)])
    assert hw.memory.dram.channels == 4
    assert hw.memory.buffer_for("vector")[0] == "act"
    assert load_hardware("sat", [("memory", MEMORY), ("memory", "ideal")]).memory == "ideal"


@pytest.mark.parametrize(("override", "reason"), [
    (("memory.dram.gbps_per_channel", 0), "memory.dram.gbps_per_channel: Input should be "
                                          "greater than 0"),
    (("memory.dram.efficiency", 1.5), "memory.dram.efficiency: Input should be less than"),
    (("memory.buffers.out.kib", 0), "memory.buffers.out.kib: Input should be greater than 0"),
    (("memory.buffers.out.holds", ["weights"]),
     "exactly one buffer must hold weights (held by: wgt, out)"),
    (("memory", "hbm"), "Input should be 'ideal'"),
    (("memory.buffers.wgt.bytes_per_cycle", 0),
     "memory.buffers.wgt.bytes_per_cycle: Input should be greater than 0"),
    (("memory.buffers.wgt.ports", 3),
     "memory.buffers.wgt.ports: Input should be less than or equal to 2"),
    (("memory.buffers.wgt.ports", True), "memory.buffers.wgt.ports: Input should be a valid "
                                         "integer"),
    (("memory.buffers.wgt.ports", 2.0), "memory.buffers.wgt.ports: Input should be a valid "
                                        "integer"),
    (("memory.buffers.wgt", {"kib": 512, "holds": ["weights"]}),
     "memory.buffers.wgt.bytes_per_cycle: required key is missing"),
])
def test_bad_memory_names_the_field(override, reason):
    """Zero bandwidth, an efficiency above one, an empty buffer, a role held twice, a bank
    port of no bytes, three ports, `true` or 2.0 ports, a buffer without its port width."""
    with pytest.raises(SatsimError) as info:
        load_hardware("sat", [("memory", dict(MEMORY)), override])
    assert reason in str(info.value)


def test_work_can_be_left_untimed():
    """Routing mask generation, vector work and updates `untimed` leaves them out of the
    timing (SCALE-Sim's preset, which times GEMMs only, does so)."""
    hw = load_hardware("sat", [("routes.maskgen", "untimed"), ("routes.vector", "untimed"),
                               ("routes.update", "untimed")])
    assert hw.maskgen is None and hw.vector is None and hw.unit_for("update") is None
    scalesim = load_hardware("scalesim")
    assert scalesim.maskgen is None and scalesim.vector is None


def test_a_description_documents_a_preset_without_changing_it():
    """A preset's `description:` is one line for `satsim list`; it is documentation, not the
    machine: left out of the config's dump (results, schedule fingerprints), so editing it
    changes no run and invalidates no schedule file."""
    hw, policy = load_hardware("sat"), load_dataflow("sat")
    assert hw.description.startswith("SAT (Fang et al., TCAD 2023)") and policy.description
    retold = load_hardware("sat", [("description", "another line")])
    assert retold.description == "another line"
    assert retold.model_dump_json() == hw.model_dump_json()
    assert "description" not in hw.model_dump() and "description" not in policy.model_dump()


def test_satsim_list_describes_every_entry(cli):
    """`satsim list`: every shipped preset, dataflow, workload, energy table and sweep spec
    on one line with what it is (its YAML description, or what the trace's header says was
    captured)."""
    done = cli("list")
    assert done.returncode == 0, done.stderr
    entries = [line.split(maxsplit=1) for line in done.stdout.splitlines()
               if line.startswith("  ")]
    assert len(entries) >= 30 and all(len(entry) == 2 for entry in entries), done.stdout
    lines = dict(entries)
    assert lines["scalesim-ws"] == ("SCALE-Sim 3.0.0's weight-stationary dataflow (with --hw "
                                    "scalesim)")
    assert lines["vit-tiny-srste"] == ("vit-tiny: one SR-STE 2:8 training iteration (batch 8, "
                                       "fp32, synthetic data)")
    assert lines["resnet18-cifar-bdwp-dump"].endswith("; tensor dump for satsim validate")
    assert lines["vcu1525"].startswith("Xilinx VCU1525") and "(200 points)" in lines[
        "paper-models"] and "8 points" in lines["smoke"]
