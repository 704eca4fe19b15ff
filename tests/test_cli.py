"""The satsim command: the default run, the JSON contract, and one-line errors (exit 2)."""

import json

import pytest


def test_default_run_from_any_directory(cli, tmp_path):
    """`satsim run` with no arguments works outside the repository and prints the summary."""
    done = cli("run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "resnet18-cifar" in out and "(bdwp, 2:8)" in out
    for word in ("FF", "BP", "WG", "total", "utilization", "speedup over dense"):
        assert word in out


def test_json_contract(cli, tmp_path):
    """--json writes satsim.result/1 with per-op timing that adds up."""
    path = tmp_path / "r.json"
    done = cli("run", "--method", "srste", "--sparsity", "2:4", "--json", str(path))
    assert done.returncode == 0, done.stderr
    doc = json.loads(path.read_text())
    assert doc["schema"] == "satsim.result/1"
    assert (doc["hardware"], doc["dataflow"], doc["workload"]) == ("sat", "sat", "resnet18-cifar")
    assert (doc["sparsity"], doc["method"], doc["clock_mhz"]) == ("2:4", "srste", 200.0)
    assert doc["energy_j"] is None
    ops = doc["ops"]
    assert all(op["cycles"] == op["end"] - op["start"] for op in ops)
    assert all(a["end"] <= b["start"] for a, b in zip(ops, ops[1:], strict=False))
    assert doc["cycles"] == ops[-1]["end"]
    assert doc["seconds"] == pytest.approx(doc["cycles"] / 200e6)
    assert doc["macs"] == sum(op["macs"] for op in ops) < doc["dense_macs"]
    assert doc["utilization"] == pytest.approx(doc["macs"] / (doc["cycles"] * 32 * 32))
    assert 0 < doc["utilization"] <= 1
    assert {op["sparsity"] for op in ops if op["phase"] == "BP"} == {"dense"}  # srste
    assert {op["stationarity"] for op in ops} <= {"os", "ws"}


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
               "--set", "array.cols=8", "--json", str(out))
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
    "beyond max_m": (lambda d: ["--sparsity", "2:32"], "max_m = 16"),
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
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_exit_2(cli, tmp_path, case):
    make_args, expected = BAD_INPUTS[case]
    done = cli("run", *make_args(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.json"))
