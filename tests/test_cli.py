"""The satsim command: the default run, the JSON contract, and one-line errors (exit 2)."""

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# Many tests make the default run (to check where and how it writes): one search serves all.
pytestmark = pytest.mark.usefixtures("schedule_cache")
# A real capture with every record kind (ResNet-9 at width 8 on 8x8 images, batch 2).
TINY = str(Path(__file__).parent / "data" / "fuzz" / "resnet9-tiny-bdwp.jsonl")


def test_default_run_from_any_directory(cli, tmp_path):
    """`satsim run` with no arguments works outside the repository and prints the summary."""
    done = cli("run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "resnet18-cifar" in out and "(bdwp, 2:8)" in out
    for word in ("FF", "BP", "WG", "MASK", "VEC", "WU", "iteration", "compute only",
                 "utilization", "DRAM", "speedup over dense"):
        assert word in out


def test_json_contract(cli, tmp_path):
    """--json writes satsim.result/2 with per-op timing that adds up."""
    path = tmp_path / "r.json"
    done = cli("run", "--method", "srste", "--sparsity", "2:4", "--json", str(path))
    assert done.returncode == 0, done.stderr
    doc = json.loads(path.read_text())
    assert doc["schema"] == "satsim.result/2"
    assert (doc["hardware"], doc["dataflow"], doc["workload"]) == ("sat", "sat", "resnet18-cifar")
    assert (doc["sparsity"], doc["method"], doc["clock_mhz"]) == ("2:4", "srste", 200.0)
    energy = doc["energy"]  # the sat preset's 45 nm table; each breakdown adds up to it
    assert energy["table"] == "asic-45nm" and doc["energy_j"] > 0
    for breakdown in ("by_unit", "by_phase", "by_layer"):
        assert math.fsum(v for v in energy[breakdown].values() if v is not None) == \
            pytest.approx(doc["energy_j"], rel=1e-12)
    ops = doc["ops"]
    assert all(op["cycles"] == op["end"] - op["start"] >= op["busy_cycles"] for op in ops)
    for unit in ("stce", "sore", "vector"):  # an op spans its loads, its work, its stores
        mine = [op for op in ops if op["unit"] == unit]
        busy = doc["units"][unit]["busy_cycles"]
        assert mine and sum(op["busy_cycles"] for op in mine) == busy <= doc["cycles"]
    assert doc["cycles"] == max(op["end"] for op in ops) >= doc["compute_only_cycles"]
    assert doc["seconds"] == pytest.approx(doc["cycles"] / 200e6)
    assert doc["macs"] == sum(op["macs"] for op in ops) < doc["dense_macs"]
    assert doc["utilization"] == pytest.approx(doc["macs"] / (doc["cycles"] * 32 * 32))
    assert 0 < doc["utilization"] <= 1
    assert {op["sparsity"] for op in ops if op["phase"] == "BP"} == {"dense"}  # srste
    assert {op["stationarity"] for op in ops if op["unit"] == "stce"} <= {"os", "ws"}
    assert {op["phase"] for op in ops} == {"FF", "BP", "WG", "MASK", "VEC", "WU"}
    assert doc["dram_read_bytes"] == sum(op["dram_read_bytes"] for op in ops) > 0
    for stall in ("dram", "mask", "dep", "unit"):
        assert doc["stalls"][stall] == sum(op[f"stall_{stall}"] for op in ops) >= 0
    assert doc["actions"]["stce"]["mac"] == doc["macs"]


def test_sparse_run_is_faster_than_dense(cli, tmp_path):
    paths = {m: tmp_path / f"{m}.json" for m in ("bdwp", "dense")}
    for method, path in paths.items():
        assert cli("run", "--method", method, "--json", str(path)).returncode == 0
    sparse, dense = (json.loads(p.read_text())["cycles"] for p in paths.values())
    assert sparse < dense


def test_overrides_and_csv_workload(cli, tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text("name,M,K,N,sparsity\nfc,64,512,256,2:4\n")
    out = tmp_path / "r.json"
    done = cli("run", "--workload", str(csv), "--dataflow", "naive", "--set", "array.rows=8",
               "--set", "array.cols=8", "--set", "memory=ideal", "--json", str(out))
    assert done.returncode == 0, done.stderr
    (op,) = json.loads(out.read_text())["ops"]
    # WS without interleaving: ceil(256/8) K' tiles x 32 column tiles, each 64 + 8 + 8 - 1.
    assert op["cycles"] == 32 * 32 * 79


def test_list(cli):
    done = cli("list")
    assert done.returncode == 0
    assert "sat" in done.stdout and "naive" in done.stdout and "resnet18-cifar" in done.stdout


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD_INPUTS = {
    "malformed yaml": (lambda d: ["--hw", _write(d, "h.yaml", "name: [x\n")], "malformed YAML"),
    "unknown key": (lambda d: ["--set", "array.depth=2"], "array.depth: unknown key"),
    "n > m": (lambda d: ["--sparsity", "5:4"], "--sparsity: N:M needs N < M"),
    "beyond max_m": (lambda d: ["--sparsity", "2:32"], "runs N:M with M <= 16 only"),
    "missing file": (lambda d: ["--workload", "nope.jsonl"], "nope.jsonl: no such file"),
    "missing preset": (lambda d: ["--dataflow", "fast"], "fast: no such file or preset"),
    "truncated trace": (lambda d: ["--workload", _write(
        d, "t.jsonl", '{"format":"satsim.trace","version":1,"name":"t"}\n')], "truncated"),
    "wrong version": (lambda d: ["--workload", _write(
        d, "v.jsonl", '{"format":"satsim.trace","version":9,"name":"t"}\n')], "version 9"),
    "csv missing column": (lambda d: ["--workload", _write(d, "c.csv", "name,M,K,N\na,1,2\n")],
                           "line 2: missing column 'N'"),
    "bad --set": (lambda d: ["--set", "novalue"], "--set: expected dotted.path=value"),
    "bad option": (lambda d: ["--colour"], "unrecognized arguments"),
    "json folder": (lambda d: ["--json", str(d / "no" / "r.json")], "folder does not exist"),
    "json is a folder": (lambda d: ["--json", str(d)], "is a folder"),
    "json empty path": (lambda d: ["--json", ""], "--json: empty: expected a file name"),
    "json unwritable": (lambda d: ["--json", "/proc/satsim.json"], "cannot write"),
    "binary config": (lambda d: ["--hw", _bytes(d, "b.yaml", b"\xff\xfe\x00name")], "not UTF-8"),
    "binary trace": (lambda d: ["--workload", _bytes(d, "b.jsonl", b"\x89PNG\r\n\x1a\n")],
                     "not UTF-8"),
    "deep json": (lambda d: ["--workload", _write(d, "deep.jsonl", "[" * 100_000 + "]" * 100_000
                                                  + "\n")], "nested too deeply"),
    "bool for int": (lambda d: ["--hw", _preset(d, "rows: 32", "rows: true")],
                     "array.rows: Input should be a valid integer"),
    "inf clock": (lambda d: ["--hw", _preset(d, "clock_mhz: 200", "clock_mhz: .inf")],
                  "clock_mhz: Input should be a finite number"),
    "nan clock": (lambda d: ["--set", "clock_mhz=.nan"], "clock_mhz: Input should be a finite"),
    "beyond limit": (lambda d: ["--set", "array.cols=100000"], "less than or equal to 4096"),
    "duplicate key": (lambda d: ["--hw", _preset(d, "name: sat", "name: sat\nname: other")],
                      "duplicate key 'name'"),
    "set names override": (lambda d: ["--set", "array.depht=2"], "--set array.depht: unknown"),
    "trace NaN": (lambda d: ["--workload", _write(d, "n.jsonl", '{"format":"satsim.trace",'
                                                  '"version":1,"name":"t","meta":{"x":NaN}}\n')],
                  "NaN is not a number"),
}


def _bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _preset(tmp_path, old, new):
    from satsim.resources import shipped

    text = shipped("configs", (".yaml",))["sat"].read_text()
    assert old in text
    return _write(tmp_path, "hw.yaml", text.replace(old, new, 1))


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_exit_2(cli, tmp_path, case):
    make_args, expected = BAD_INPUTS[case]
    done = cli("run", *make_args(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.json"))


def test_json_to_stdout(cli):
    """`--json -` writes the JSON document to stdout and the table to stderr."""
    done = cli("run", "--json", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"] == "satsim.result/2"
    assert "speedup over dense" in done.stderr


def test_json_through_a_symlink_keeps_the_link(cli, tmp_path):
    """A symlink at the output path is followed: the target gets the JSON, the link stays."""
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    assert cli("run", "--json", str(link)).returncode == 0
    assert link.is_symlink() and json.loads(target.read_text())["schema"] == "satsim.result/2"


def test_json_into_a_fifo_is_written_in_place(cli, tmp_path):
    """A FIFO at the output path is written into, never replaced by a regular file."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("text", fifo.read_text()))
    reader.start()
    done = cli("run", "--json", str(fifo))
    reader.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(got["text"])["schema"] == "satsim.result/2"
    assert fifo.is_fifo()


def test_json_to_a_device_leaves_it_a_device(cli):
    """`--json /dev/null` writes into the device; it is never renamed over."""
    assert cli("run", "--json", "/dev/null").returncode == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_files_follow_the_umask(cli, tmp_path):
    """Output files get the permissions a plain open() would give (0644 under umask 022)."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "r.json"
        assert cli("run", "--json", str(path)).returncode == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_closed_pipe_exits_quietly(tmp_path):
    """`satsim run | head -1`: one line out, no traceback, no error message."""
    exe = shutil.which("satsim")
    command = f"'{exe}'" if exe else f"'{sys.executable}' -m satsim"
    done = subprocess.run(f"{command} run | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""


@pytest.mark.torch
@pytest.mark.parametrize(("args", "expected"), [
    (["--shapes-only", "--dump-tensors", "layer1.0.conv1"], "shape-only captures have no"),
    (["--dump-tensors", "layer1.0.conv1", "--out", "{d}/x.npz"], "the same file as --out"),
    (["--out", "{d}/missing/x.jsonl"], "folder does not exist"),
    (["--out", "/proc/x.jsonl"], "cannot write"),
    (["--model-option", "width=abc"], "width='abc': expected a value like 64"),
    (["--model-option", "depth=3"], "has no option 'depth'"),
    (["--nm", "3:7"], "3:7 makes no layer of resnet18-cifar sparse"),
])
def test_bad_capture_is_one_error_line_and_leaves_nothing(cli, tmp_path, args, expected):
    """Bad capture options: one error line, exit 2, no file left in the output folder."""
    args = [a.format(d=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "x.jsonl")]
    done = cli("capture", "resnet18-cifar", "--method", "bdwp", "--batch", "1",
               "--shapes-only" if "--dump-tensors" not in args else "--steps=1", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.torch
def test_capture_reports_progress_to_a_pipe(cli, tmp_path):
    """With stderr not a terminal (logs, CI), a capture still reports each stage, one line
    each, and the output file has the user's normal permissions."""
    out = tmp_path / "r.jsonl"
    done = cli("capture", "resnet18-cifar", "--method", "bdwp", "--batch", "1",
               "--shapes-only", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("capture resnet18-cifar: built, 19 of 21 weight layers bdwp 2:8")
    assert lines[1].startswith("capture resnet18-cifar: step 1/1 traced")
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_timeline_file_is_the_run_it_reports(cli, tmp_path):
    """`--timeline` writes a Chrome trace-event file of the same iteration as the table and
    the JSON, with a track per unit and DRAM channel; an unwritable path fails before the
    run."""
    timeline, result = tmp_path / "t.json", tmp_path / "r.json"
    done = cli("run", "--workload", TINY, "--timeline", str(timeline), "--json", str(result))
    assert done.returncode == 0, done.stderr
    doc, res = json.loads(timeline.read_text()), json.loads(result.read_text())
    assert doc["otherData"]["cycles"] == res["cycles"]
    assert max(e["args"]["end_cycle"] for e in doc["traceEvents"] if e["ph"] == "X") == (
        res["cycles"])
    tracks = {e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert {"STCE (PE array)", "SORE (mask generator)", "vector / weight-update unit",
            *(f"DRAM channel {c}" for c in range(4))} == tracks
    done = cli("run", "--timeline", str(tmp_path / "no" / "t.json"))
    assert done.returncode == 2 and done.stderr.startswith("error: ")
