"""Outputs never destroy inputs: an output path that names one of the command's inputs, or
another of its outputs, is one `error:` line naming both, exit 2, checked before any work and
with nothing written. A temporary left by a killed write goes with the next write."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from satsim.cli import main
from satsim.energy.table import shipped_tables
from satsim.files import write_text
from satsim.resources import shipped

CSV = "name,M,K,N\nfc,64,128,32\n"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working folder with a tiny CSV workload ``w.csv``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.csv").write_text(CSV)
    return tmp_path


def _refused(capsys, argv, *named):
    """``satsim *argv`` exits 2 with one error line naming each of ``named``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for text in named:
        assert text in err, err
    return err


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _unchanged(folder, before):
    assert _snapshot(folder) == before


@pytest.mark.parametrize("output", ["--json", "--timeline", "--table"])
def test_run_output_onto_its_workload_is_refused(folder, capsys, output):
    """`run --workload w.csv --json w.csv` (or --timeline, --table) leaves the workload as it
    was and writes nothing."""
    before = _snapshot(folder)
    _refused(capsys, ["run", "--workload", "w.csv", output, "w.csv"],
             f"{output} w.csv", "--workload w.csv")
    _unchanged(folder, before)


def _copy_of(kind, name, folder):
    path = folder / f"{name}.yaml"
    path.write_text(shipped(kind, (".yaml",))[name].read_text())
    return path.name


@pytest.mark.parametrize("option", ["--hw", "--dataflow", "--schedule", "--set energy"])
def test_run_output_onto_any_other_input_is_refused(folder, capsys, option):
    """The hardware and dataflow files, the schedule file and the energy table are inputs
    too."""
    if option == "--hw":
        args, name = ["--hw", _copy_of("configs", "sat", folder)], "--hw sat.yaml"
    elif option == "--dataflow":
        args, name = ["--dataflow", _copy_of("dataflows", "sat", folder)], "--dataflow sat.yaml"
    elif option == "--schedule":
        (folder / "s.yaml").write_text("a schedule\n")
        args, name = ["--schedule", "s.yaml"], "--schedule s.yaml"
    else:
        table = shipped_tables()["vcu1525"]
        (folder / "t.yaml").write_text(table.read_text())
        args, name = ["--set", "energy=t.yaml"], "the energy table"
    target = args[1].split("=")[-1]
    before = _snapshot(folder)
    _refused(capsys, ["run", "--workload", "w.csv", *args, "--json", target], name)
    _unchanged(folder, before)


def test_two_outputs_of_one_run_onto_one_file_are_refused(folder, capsys):
    """`--json o.json --timeline ./o.json` would lose one of them: refused, nothing written."""
    _refused(capsys, ["run", "--workload", "w.csv", "--json", "o.json", "--timeline",
                      "./o.json"], "--timeline ./o.json", "--json o.json")
    assert not (folder / "o.json").exists()


@pytest.mark.parametrize("link", ["symlink", "hard link", "./w.csv"])
def test_the_same_file_by_another_name_is_the_same_file(folder, capsys, link):
    """A symlink, a hard link or `./w.csv` names the workload as surely as `w.csv` does."""
    if link == "symlink":
        (folder / "l.csv").symlink_to(folder / "w.csv")
        name = "l.csv"
    elif link == "hard link":
        os.link(folder / "w.csv", folder / "h.csv")
        name = "h.csv"
    else:
        name = link
    _refused(capsys, ["run", "--workload", "w.csv", "--table", name], "--workload w.csv")
    assert (folder / "w.csv").read_text() == CSV


def test_streams_are_not_files_to_protect(folder, capsys):
    """`-` and devices may take several outputs at once: /dev/null for two of them is fine."""
    assert main(["run", "--workload", "w.csv", "--set", "memory=ideal", "--json", "-",
                 "--timeline", "/dev/null"]) == 0
    assert capsys.readouterr().out.lstrip().startswith("{")


def test_json_to_redirected_stdout_keeps_the_table(folder):
    """`--json /dev/stdout > x.txt` writes through the process's standard output: x.txt holds
    the JSON and the table printed after it, not the JSON alone."""
    with open(folder / "x.txt", "wb") as out:
        done = subprocess.run([sys.executable, "-m", "satsim", "run", "--workload", "w.csv",
                               "--set", "memory=ideal", "--json", "/dev/stdout"],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = (folder / "x.txt").read_text()
    assert text.startswith("{") and '"schema": "satsim.result/2"' in text
    json_text, table = text.split("\n}\n", 1)
    assert "array MAC utilization" in table and "array MAC" not in json_text


def test_schedule_out_onto_its_dataflow_is_refused(folder, capsys):
    """`schedule --out` must not overwrite the dataflow (or any input) it was made from."""
    name = _copy_of("dataflows", "naive", folder)
    before = _snapshot(folder)
    _refused(capsys, ["schedule", "--workload", "w.csv", "--dataflow", name, "--out", name],
             "--out naive.yaml", "--dataflow naive.yaml")
    _unchanged(folder, before)


def test_compare_json_onto_a_workload_is_refused(folder, capsys):
    """`compare --json` must not overwrite a trace file given in --workloads."""
    _refused(capsys, ["compare", "--workloads", "w.csv", "--json", "w.csv"],
             "--json w.csv", "--workloads w.csv")
    assert (folder / "w.csv").read_text() == CSV


def test_capture_dump_onto_the_trace_is_refused(folder, capsys):
    """`capture --out x.npz --dump-tensors L` would write the trace and its tensor dump to one
    file: refused before the model is built (no torch needed to say so)."""
    _refused(capsys, ["capture", "resnet18-cifar", "--method", "bdwp", "--batch", "1",
                      "--dump-tensors", "layer1.0.conv1", "--out", "x.npz"],
             "its tensor dump x.npz", "--out x.npz")
    assert not (folder / "x.npz").exists()


@pytest.mark.parametrize("target", ["t.jsonl", "t.npz"])
def test_validate_json_onto_the_trace_or_its_dump_is_refused(folder, capsys, target):
    """`validate t.jsonl --json t.jsonl` (or t.npz, the tensor dump beside it) is refused."""
    (folder / "t.jsonl").write_text("a trace\n")
    (folder / "t.npz").write_bytes(b"a dump")
    before = _snapshot(folder)
    _refused(capsys, ["validate", "t.jsonl", "--json", target], f"--json {target}")
    _unchanged(folder, before)


def test_plot_out_onto_its_input_is_refused(folder, capsys):
    """`plot breakdown r.png --out r.png` is refused before anything is read or drawn."""
    (folder / "r.png").write_bytes(b"not a result")
    _refused(capsys, ["plot", "breakdown", "r.png", "--out", "r.png"], "--out r.png",
             "INPUT r.png")
    assert (folder / "r.png").read_bytes() == b"not a result"


def test_plot_into_the_sweep_folder_it_reads_is_refused(folder, capsys):
    """`plot pareto OUT --out OUT/p.png` would put a PNG among the shards, and then no Parquet
    reader could read the folder: an output inside an input folder is refused."""
    (folder / "out").mkdir()
    _refused(capsys, ["plot", "pareto", "out", "--x", "seconds", "--y", "energy_j",
                      "--out", "out/p.png"], "--out out/p.png", "lies inside the input INPUT out")
    assert not list((folder / "out").iterdir())


def test_report_page_onto_its_result_is_refused(folder, capsys):
    """`report page/index.html --out page` would write the page over the result it reads."""
    (folder / "page").mkdir()
    (folder / "page" / "index.html").write_text("{}")
    _refused(capsys, ["report", "page/index.html", "--out", "page"],
             "--out page/index.html", "RESULT page/index.html")
    assert (folder / "page" / "index.html").read_text() == "{}"


@pytest.mark.parametrize("inside", ["spec", "workload"])
def test_sweep_out_holding_its_spec_or_a_workload_is_refused(folder, capsys, inside):
    """A sweep's --out folder must not be, or hold, the spec or a file the spec names."""
    (folder / "res").mkdir()
    spec = {"name": "t", "workloads": ["res/w.csv" if inside == "workload" else "w.csv"]}
    if inside == "workload":
        (folder / "res" / "w.csv").write_text(CSV)
    spec_path = folder / ("res/s.yaml" if inside == "spec" else "s.yaml")
    spec_path.write_text(yaml.safe_dump(spec))
    held = "SPEC res/s.yaml" if inside == "spec" else "workload of the spec"
    before = sorted(p.name for p in (folder / "res").iterdir())
    _refused(capsys, ["sweep", str(spec_path.relative_to(folder)), "--out", "res"],
             "--out res", held)
    assert sorted(p.name for p in (folder / "res").iterdir()) == before


def test_sweep_out_onto_its_spec_file_is_refused(folder, capsys):
    """`sweep s.yaml --out s.yaml` names the spec as the results folder."""
    (folder / "s.yaml").write_text(yaml.safe_dump({"name": "t", "workloads": ["w.csv"]}))
    _refused(capsys, ["sweep", "s.yaml", "--out", "s.yaml"], "--out s.yaml", "SPEC s.yaml")


def test_a_killed_writes_temporary_goes_with_the_next_write(tmp_path):
    """A write killed halfway leaves its hidden `.NAME.XXXX.part` beside the target; the
    next write to that target removes it."""
    target = tmp_path / "out.json"
    writer = textwrap.dedent(f"""
        import sys, time
        from satsim.files import write_atomic

        def write(handle):
            handle.write(b"x" * 8_000_000)
            handle.flush()
            print("written", flush=True)
            time.sleep(600)

        write_atomic({str(target)!r}, write)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "written\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    (stale,) = tmp_path.glob(".out.json.*.part")
    assert stale.stat().st_size == 8_000_000 and not target.exists()
    write_text(target, "{}")
    assert target.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_write_in_progress_keeps_its_temporary(tmp_path):
    """A temporary whose writer is alive (it holds the lock) is not another write's to
    remove."""
    import fcntl

    live = tmp_path / ".out.json.abcd1234.part"
    with open(live, "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        write_text(tmp_path / "out.json", "{}")
        assert live.exists()
    assert (tmp_path / "out.json").read_text() == "{}"
