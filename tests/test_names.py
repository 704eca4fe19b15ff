"""Names never shadow presets. One rule for every option that takes a shipped name or a file
(satsim.resources.find): a value with a `/` or a file suffix is a path; a bare name is the
shipped one, even when a file or folder of that name is in the working folder (one warning
says so, and `./NAME` picks the file); a bare name that is no shipped one but a file is that
file."""

import subprocess
import sys
import warnings

import pytest
import yaml

from satsim.compare import base_workload
from satsim.config import load_dataflow, load_hardware
from satsim.config.loader import resolve
from satsim.energy.table import resolve_table
from satsim.errors import SatsimError
from satsim.resources import ShadowWarning, is_name, shipped
from satsim.sweep import load_spec
from satsim.trace.workload import resolve_workload


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _renamed_copy(kind: str, preset: str, name: str) -> str:
    """The YAML of a shipped preset, under another ``name``."""
    data = yaml.safe_load(shipped(kind, (".yaml",))[preset].read_text())
    return yaml.safe_dump({**data, "name": name})


@pytest.mark.parametrize(("value", "name"), [
    ("sat", True), ("resnet18-cifar", True), ("my.conf", True), ("./sat", False),
    ("dir/sat", False), ("sat.yaml", False), ("s.YML", False), ("t.jsonl", False),
    ("l.csv", False), ("r.json", False)])
def test_a_name_has_no_slash_and_no_file_suffix(value, name):
    """The rule's one test: `/` or .yaml/.yml/.jsonl/.csv/.json make a path."""
    assert is_name(value) is name


# Each kind: (look the value up, a shipped name, its shipped file's folder/name).
KINDS = {
    "hardware": (lambda v: resolve(v, "configs"), "sat", "configs/sat.yaml"),
    "dataflow": (lambda v: resolve(v, "dataflows"), "naive", "dataflows/naive.yaml"),
    "workload": (resolve_workload, "resnet9-cifar-dense", "workloads/resnet9-cifar-dense.jsonl"),
    "energy table": (resolve_table, "vcu1525", "energy/vcu1525.yaml"),
    "compare model": (base_workload, "vit-tiny", "workloads/vit-tiny-dense.jsonl"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_bare_name_is_the_shipped_one_with_a_warning(here, kind):
    """A file named like a shipped one in the working folder does not hide it; a warning
    names both and how to pick the file."""
    lookup, name, shipped_file = KINDS[kind]
    (here / name).write_text("not what the name means\n")
    with pytest.warns(ShadowWarning) as caught:
        found = lookup(name)
    assert found.as_posix().endswith(shipped_file)
    (message,) = [str(w.message) for w in caught]
    assert message == (f"{name}: using the shipped {shipped_file}, not the file ./{name} "
                       f"(write ./{name} for the file)")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_dot_slash_picks_the_file(here, kind):
    """`./NAME` is a path: the file in the working folder, without a warning."""
    lookup, name, _ = KINDS[kind]
    (here / name).write_text("the user's file\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lookup(f"./{name}").resolve() == (here / name).resolve()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_bare_name_of_no_shipped_one_but_a_file_is_that_file(here, kind):
    """`mine` with a file `mine` here: that file, silently."""
    lookup = KINDS[kind][0]
    (here / "mine").write_text("the user's file\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lookup("mine").resolve() == (here / "mine").resolve()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_unknown_bare_name_lists_the_shipped_ones(here, kind):
    """Neither shipped nor a file: the error lists what is shipped."""
    lookup, name, _ = KINDS[kind]
    with pytest.raises(SatsimError, match=rf"nope: no such file or .*\(shipped: .*{name}"):
        lookup("nope")


def test_the_configs_loaded_follow_the_rule(here):
    """Loading (not only finding) goes by the rule: `sat` is the preset beside a file `sat`
    holding another machine; `./sat` is that machine."""
    (here / "sat").write_text(_renamed_copy("configs", "sat", "mine"))
    (here / "naive").write_text(_renamed_copy("dataflows", "naive", "my-naive"))
    with pytest.warns(ShadowWarning):
        assert load_hardware("sat").name == "sat"
        assert load_dataflow("naive").name == "naive"
    assert load_hardware("./sat").name == "mine"
    assert load_dataflow("./naive").name == "my-naive"


def test_a_results_folder_named_like_a_shipped_spec_does_not_hide_it(here):
    """The README's `satsim sweep smoke --out smoke` leaves a folder `smoke`: `smoke` is still
    the shipped spec (with a warning); `./smoke` is the folder, which is no spec."""
    (here / "smoke" / "shards").mkdir(parents=True)
    with pytest.warns(ShadowWarning, match="smoke: using the shipped sweeps/smoke.yaml, not "
                                           r"the folder ./smoke \(write ./smoke for the folder\)"):
        spec, _ = load_spec("smoke")
    assert spec.name == "smoke"
    with pytest.raises(SatsimError, match="./smoke: not a regular file"):
        load_spec("./smoke")


def test_a_spec_file_named_like_a_shipped_one_is_picked_by_dot_slash(here):
    """A spec file `smoke` here is `./smoke`; plain `smoke` stays the shipped spec."""
    (here / "smoke").write_text(yaml.safe_dump({"name": "mine", "workloads": ["vit-tiny"]}))
    with pytest.warns(ShadowWarning):
        assert load_spec("smoke")[0].name == "smoke"
    assert load_spec("./smoke")[0].name == "mine"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "satsim", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_a_file_named_sat_does_not_break_plain_run(tmp_path):
    """`satsim run` (hardware and dataflow `sat`) in a folder holding a file `sat` runs the
    presets, and says so once per shadowed name on stderr."""
    (tmp_path / "sat").write_text("my notes\n")
    (tmp_path / "w.csv").write_text("name,M,K,N\nfc,64,128,32\n")
    done = _cli("run", "--workload", "w.csv", "--set", "memory=ideal", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: sat: using the shipped configs/sat.yaml, not the file ./sat (write ./sat "
        "for the file)",
        "warning: sat: using the shipped dataflows/sat.yaml, not the file ./sat (write ./sat "
        "for the file)"]
    assert "hardware   sat" in done.stdout


def test_a_sweep_says_once_per_shadowed_name(tmp_path):
    """A sweep looks its presets up beside its spec and again when it runs: a file `sat`
    there is still one `warning:` line per shadowed name, not one per lookup."""
    (tmp_path / "sat").write_text("my notes\n")
    (tmp_path / "w.csv").write_text("name,M,K,N\nfc,64,128,32\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "t", "workloads": ["w.csv"], "axes": [{"path": "array.rows", "values": [8]}]}))
    done = _cli("sweep", "s.yaml", "--out", "o", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warned == [
        "warning: sat: using the shipped configs/sat.yaml, not the file ./sat (write ./sat "
        "for the file)",
        "warning: sat: using the shipped dataflows/sat.yaml, not the file ./sat (write ./sat "
        "for the file)"]


def test_a_second_readme_sweep_finds_the_shipped_spec(tmp_path):
    """After `satsim sweep smoke --out smoke`, `satsim sweep smoke --out other` reads the
    shipped spec (the error here is only about --out, a non-empty folder: no sweep runs)."""
    (tmp_path / "smoke").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep\n")
    done = _cli("sweep", "smoke", "--out", "other", cwd=tmp_path)
    warning, error = done.stderr.splitlines()
    assert warning == ("warning: smoke: using the shipped sweeps/smoke.yaml, not the folder "
                       "./smoke (write ./smoke for the folder)")
    assert done.returncode == 2 and error.startswith("error: other: ")


def test_a_spec_names_a_shipped_preset_even_beside_a_file_of_that_name(tmp_path):
    """In a spec, `hardware: sat` is the preset even with a file `sat` beside the spec (a
    warning says so); `hardware: ./sat` is that file."""
    from satsim.sweep import expand

    (tmp_path / "sat").write_text(_renamed_copy("configs", "sat-small", "mine"))
    spec_path = tmp_path / "s.yaml"
    for hardware, expected in (("sat", "sat"), ("./sat", str(tmp_path / "./sat"))):
        spec_path.write_text(yaml.safe_dump({"name": "t", "hardware": hardware,
                                             "dataflow": "naive",
                                             "workloads": ["resnet9-cifar-dense"]}))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (point,) = expand(load_spec(spec_path)[0], spec_path)
        assert point.hardware == expected
        shadowed = [str(w.message) for w in caught if w.category is ShadowWarning]
        assert shadowed == ([f"sat: using the shipped configs/sat.yaml, not the file "
                             f"{tmp_path / 'sat'} (write ./sat for the file)"]
                            if hardware == "sat" else [])
