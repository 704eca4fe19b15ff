"""`satsim compare`: dense vs SR-STE vs BDWP, model by model, as `satsim run` reports them."""

import json
import re
import statistics

import pytest

from satsim.api import run
from satsim.cli import main
from satsim.compare import Comparison, MethodRun, ModelRow, compare
from satsim.types import NMPattern

# The tests compare the table with `satsim run`s of the same captures: one search serves both.
pytestmark = pytest.mark.usefixtures("schedule_cache")


def test_rows_are_the_runs_speedups_and_bounds():
    """Each row holds what `satsim run` reports for the model's shipped captures: the dense
    capture's cycles, each sparse capture's cycles, speedup over its dense twin, uniform
    bound and MAC-proportional ideal; the mean is the rows' mean."""
    table = compare(["resnet9-cifar"], "2:8")
    (row,) = table.rows
    assert row.dense_cycles == run("resnet9-cifar-dense", baseline=False).result.cycles
    for method in ("srste", "bdwp"):
        report = run(f"resnet9-cifar-{method}")
        got = row.methods[method]
        assert got.source == f"resnet9-cifar-{method}"
        assert (got.cycles, got.speedup, got.uniform, got.mac_ideal) == (
            report.result.cycles, report.bounds.speedup, report.bounds.uniform,
            report.bounds.mac_ideal)
        assert table.mean(method) == got.speedup
    assert row.checks == []  # srste slower than bdwp, both below their MAC ideals
    assert not table.paper_setting


def test_another_pattern_re_annotates_the_dense_capture():
    """At 2:4 (the captures are 2:8) both methods run the dense capture re-annotated, as
    `satsim run --workload <model>-dense --method M --sparsity 2:4` does."""
    (row,) = compare(["resnet9-cifar"], "2:4").rows
    for method in ("srste", "bdwp"):
        report = run("resnet9-cifar-dense", method=method, sparsity="2:4")
        assert row.methods[method].source == "resnet9-cifar-dense re-annotated"
        assert row.methods[method].speedup == report.bounds.speedup


def test_the_table_does_not_depend_on_the_workers(monkeypatch):
    """Two processes sharing the runs give the one-process table, to the bit."""
    monkeypatch.setenv("SATSIM_CACHE_DIR", "off")  # each process searches its runs itself
    one = compare(["resnet9-cifar", "vgg19-cifar"], "2:8", workers=1).to_json()
    assert compare(["resnet9-cifar", "vgg19-cifar"], "2:8", workers=2).to_json() == one


def test_checks_name_what_contradicts_the_expected_order():
    """A speedup above the MAC ideal, or SR-STE not slower than BDWP, is named."""
    fast_srste = ModelRow("m", 100, "m-dense", {
        "srste": MethodRun(40, 2.5, 1.33, 1.33, "m-srste"),
        "bdwp": MethodRun(50, 2.0, 2.0, 2.0, "m-bdwp")})
    assert fast_srste.checks == ["srste above its MAC-proportional ideal",
                                 "srste not slower than bdwp"]


def test_table_columns_are_as_wide_as_their_numbers():
    """Cycle counts of any size keep two spaces between columns: split on them, each row
    gives back its cells, and the rows line up."""
    huge = ModelRow("a-model-with-a-long-name", 10**16, "d", {
        "srste": MethodRun(9 * 10**15, 1.11, 1.33, 1.3, "s"),
        "bdwp": MethodRun(5 * 10**15, 2.0, 2.0, 2.0, "b")})
    small = ModelRow("m", 100, "m-dense", {"srste": MethodRun(90, 1.11, 1.33, 1.3, "m-srste"),
                                           "bdwp": MethodRun(50, 2.0, 2.0, 2.0, "m-bdwp")})
    table = Comparison((huge, small), NMPattern(2, 8), "hw", "df", 200.0)
    lines = table.lines()
    header = lines.index(next(line for line in lines if line.startswith("model")))
    rows = [re.split(r" {2,}", line) for line in lines[header:header + 3]]
    assert {len(cells) for cells in rows} == {11}
    assert rows[1][:4] == ["a-model-with-a-long-name", "10,000,000,000.00",
                           "9,000,000,000.00", "5,000,000,000.00"]
    assert rows[2][:2] == ["m", "0.00"] and rows[2][-1] == "ok"
    def right_edge(line, cell):
        return line.index(cell) + len(cell)

    assert right_edge(lines[header], "dense Mcyc") == right_edge(lines[header + 1],
                                                                 "10,000,000,000.00")


def test_cli_writes_the_table_and_json(tmp_path, capsys):
    """The table on stdout; the JSON has every model, method and the mean speedups."""
    out = tmp_path / "c.json"
    assert main(["compare", "--workloads", "resnet9-cifar,vit-tiny", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "resnet9-cifar" in text and "vit-tiny" in text and "mean" in text
    doc = json.loads(out.read_text())
    assert [m["model"] for m in doc["models"]] == ["resnet9-cifar", "vit-tiny"]
    assert doc["mean_speedup"]["bdwp"] == pytest.approx(
        statistics.fmean(m["bdwp"]["speedup"] for m in doc["models"]), rel=1e-12)


@pytest.mark.parametrize(("argv", "message"), [
    (["--nm", "9:8"], "error: --nm: N:M needs N < M"),
    (["--nm", "dense"], "error: --nm: compare needs a sparse N:M"),
    (["--nm", "1:32"], "error: --nm: 1:32: the MAC engine (array) runs N:M with M <= 16"),
    (["--workloads", "resnet9-cifar,nope"], "error: --workloads: nope: no such file or workload"),
    (["--workers", "0"], "error: --workers: must be 1..1024, got 0"),
])
def test_bad_input_is_one_error_line(argv, message, capsys):
    """Checked before anything is simulated: exit 2, one line naming the option."""
    assert main(["compare", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
