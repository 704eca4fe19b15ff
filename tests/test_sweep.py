"""Design-space sweeps: deterministic expansion, failed points kept, same rows on every
executor, nothing lost or duplicated when killed and resumed, clean errors."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from processes import descendants, still_running

from satsim.config import load_hardware
from satsim.errors import SatsimError
from satsim.report.summary import METRICS
from satsim.sweep import expand, load_results, load_spec, run_sweep
from satsim.sweep.spec import SweepSpec

BASE = {"name": "t", "workloads": ["resnet18-cifar-dense"]}
# A real capture with every record kind (ResNet-9 at width 8 on 8x8 images, batch 2): a
# point in under a second, where ResNet-18's takes seconds; for tests about the machinery.
TINY = str(Path(__file__).parent / "data" / "fuzz" / "resnet9-tiny-bdwp.jsonl")


def _spec(tmp_path: Path, name: str = "spec.yaml", **fields) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**BASE, **fields}, sort_keys=False))
    return path


def _points(tmp_path, **fields):
    spec_path = _spec(tmp_path, **fields)
    return expand(load_spec(spec_path)[0], spec_path)


def _without_host(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("host_")])


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "satsim", *args], capture_output=True,
                          text=True, timeout=600, **kwargs)


def test_axes_expand_in_order_with_the_last_fastest(tmp_path):
    """values x range x zip: the cartesian product in spec order, last axis fastest."""
    points = _points(tmp_path, axes=[
        {"path": "array.rows", "values": [16, 32]},
        {"path": "clock_mhz", "range": {"start": 100, "stop": 300, "step": 100}},
        {"zip": {"array.cols": [8, 16], "sparsity": ["2:4", "2:8"]}},
    ])
    got = [(p.columns["array.rows"], p.columns["clock_mhz"], p.columns["array.cols"],
            p.sparsity) for p in points]
    assert len(got) == 2 * 3 * 2
    assert got[:3] == [(16, 100, 8, "2:4"), (16, 100, 16, "2:8"), (16, 200, 8, "2:4")]
    assert points[0].overrides == ("array.rows=16", "clock_mhz=100", "array.cols=8")


def test_a_path_through_a_mapping_of_the_config_is_an_axis(tmp_path):
    """A buffer's size (`memory.buffers.NAME.kib`) and a vector op's cost
    (`vector.cycles_per_element.OP`) sit under keys of mappings: axes set them like any
    field."""
    points = _points(tmp_path, axes=[{"path": "memory.buffers.wgt.kib", "values": [64]},
                                     {"path": "vector.cycles_per_element.relu", "values": [3]}])
    assert points[0].overrides == ("memory.buffers.wgt.kib=64",
                                   "vector.cycles_per_element.relu=3")
    assert points[0].error is None


def test_random_axes_and_sampling_are_seeded(tmp_path):
    """The same seed draws the same values and the same sample; another seed does not."""
    fields = {"axes": [{"path": "clock_mhz", "random": {"low": 100, "high": 400, "count": 6}},
                       {"path": "array.rows", "values": [8, 16, 32, 64]}], "sample": 5}
    first = [p.point_id for p in _points(tmp_path, seed=1, **fields)]
    again = [p.point_id for p in _points(tmp_path, seed=1, **fields)]
    other = [p.point_id for p in _points(tmp_path, seed=2, **fields)]
    assert first == again and len(first) == 5 and first != other


def test_point_ids_hash_the_resolved_configuration(tmp_path):
    """Writing the preset's own value, or reordering axes, keeps a point's id; changing a
    value changes it."""
    plain = _points(tmp_path, axes=[{"path": "array.cols", "values": [32, 16]}])
    spelled = _points(tmp_path, axes=[{"path": "array.rows", "values": [32]},
                                      {"path": "array.cols", "values": [32, 16]}])
    assert [p.point_id for p in plain] == [p.point_id for p in spelled]
    assert plain[0].point_id != plain[1].point_id


def test_invalid_points_are_failed_rows_and_do_not_stop_the_sweep(tmp_path):
    """Values valid alone but not together (2:8 on hardware of max_m 4), and a pattern that
    prunes nothing of the workload, are recorded as failed, with the reason; the other
    points run."""
    spec = _spec(tmp_path, axes=[{"path": "array.sparsity.max_m", "values": [4, 8]},
                                 {"path": "sparsity", "values": ["3:7", "2:8"]}])
    summary = run_sweep(spec, tmp_path / "out", workers=1)
    assert (summary.done, summary.failed) == (1, 3)
    frame = load_results(tmp_path / "out").set_index(["array.sparsity.max_m", "sparsity"])
    assert "2:8: the MAC engine (array) runs N:M with M <= 4 only" in frame.loc[(4, "2:8"), "error"]
    assert "makes no layer sparse" in frame.loc[(8, "3:7"), "error"]
    ok = frame.loc[(8, "2:8")]
    assert ok["status"] == "ok" and pd.isna(ok["error"])
    assert 1.5 < ok["speedup"] < ok["ideal_mac_speedup"]


def test_baseline_off_leaves_speedup_empty(tmp_path):
    """`baseline: false` skips the dense twins: no speedup column values."""
    spec = _spec(tmp_path, baseline=False, axes=[{"path": "sparsity", "values": ["2:8"]}])
    run_sweep(spec, tmp_path / "out", workers=1)
    frame = load_results(tmp_path / "out")
    assert frame["speedup"].isna().all() and (frame["cycles"] > 0).all()


SAME = {"workloads": [TINY], "axes": [{"path": "array.rows", "values": [16, 32]},
                                     {"path": "sparsity", "values": ["2:4", "2:8", "1:8"]}],
        "batch_size": 2}


def test_same_rows_on_one_or_two_local_workers_and_on_dask(tmp_path):
    """One spec, three executors (local x1, local x2, a 2-worker Dask LocalCluster): the
    result frames are identical, host_ columns aside."""
    pytest.importorskip("distributed")
    spec = _spec(tmp_path, **SAME)
    frames = []
    for name, engine, workers in (("l1", "local", 1), ("l2", "local", 2), ("dk", "dask", 2)):
        run_sweep(spec, tmp_path / name, engine=engine, workers=workers)
        frames.append(_without_host(load_results(tmp_path / name)))
    assert len(frames[0]) == 6
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)


def test_sigkill_then_resume_gives_exactly_the_uninterrupted_rows(tmp_path):
    """Kill the whole sweep (SIGKILL, workers too) after a few shards; `--resume` completes
    it with no lost and no duplicated point: the rows equal an uninterrupted run's."""
    spec = _spec(tmp_path, workloads=[TINY], batch_size=1,
                 axes=[{"path": "array.rows", "values": [8, 16, 24, 32]},
                       {"path": "array.cols", "values": [16, 32]},
                       {"path": "sparsity", "values": ["2:4", "2:8"]}])
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "satsim", "sweep", str(spec), "--out",
                             str(killed), "--workers", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((killed / "shards").glob("*.parquet"))) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "sweep ended too soon"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(load_results(killed))
    assert 3 <= partial < 16
    resumed = _cli("sweep", str(spec), "--out", str(killed), "--resume", "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{partial} already done" in resumed.stdout
    run_sweep(spec, tmp_path / "whole", workers=2)
    frame = _without_host(load_results(killed))
    assert frame["point_id"].is_unique and len(frame) == 16
    pd.testing.assert_frame_equal(frame, _without_host(load_results(tmp_path / "whole")))


WORKERS_EXIT_S = 5


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_killed_sweep_leaves_no_worker_behind(tmp_path, engine):
    """SIGKILL of the `satsim sweep` process alone (its pool workers get no signal, and it
    runs no clean-up) mid-run: every process it started ends within a few seconds, instead
    of running on adopted by init. Local pool: each worker asks Linux to kill it when its
    parent dies; Dask LocalCluster: the worker processes watch their parent."""
    if engine == "dask":
        pytest.importorskip("distributed")
    spec = _spec(tmp_path, axes=[{"path": "array.rows", "values": [8, 16, 24, 32]},
                                 {"path": "sparsity", "values": ["2:4", "2:8"]}], batch_size=1)
    proc = subprocess.Popen([sys.executable, "-m", "satsim", "sweep", str(spec), "--out",
                             str(tmp_path / "out"), "--workers", "2", "--engine", engine],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # The results folder appears once the executor is up; its workers then run points.
    while not (tmp_path / "out" / "shards").is_dir() or not descendants(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, "sweep ended too soon"
        time.sleep(0.01)
    time.sleep(0.5)
    workers = descendants(proc.pid)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.kill()
    proc.wait()
    left = still_running(workers, WORKERS_EXIT_S)
    for pid in left:  # not to leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(workers)} processes outlived the sweep"


def test_a_pool_worker_whose_parent_is_gone_exits_at_once():
    """The race of a worker started just before its parent was killed: when the parent it
    was made by is not its parent any more (it was adopted), the worker's start-up exits;
    under its own parent it carries on."""
    from multiprocessing import get_context

    from satsim.pool import die_with_parent

    codes = []
    for parent in (os.getpid(), 1):
        worker = get_context("fork").Process(target=die_with_parent, args=(parent,))
        worker.start()
        worker.join(10)
        codes.append(worker.exitcode)
    assert codes == [0, 1]


def _fingerprint(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"axes": [{"path": "array.depth", "values": [1]}]},
     "axes.0 (array.depth): no such config"),
    ({"axes": [{"path": "array.rows", "values": []}]}, "axes.0.values"),
    ({"axes": [{"path": "array.rows"}]}, "exactly one of values, range, random, zip"),
    ({"workloads": []}, "workloads"),
    ({"hardware": "no-such-preset"}, "no-such-preset: no such file or preset"),
])
def test_bad_spec_is_one_error_line(tmp_path, fields, expected):
    """Unknown config paths, empty axes, axes without values, no workloads: exit 2."""
    done = _cli("sweep", str(_spec(tmp_path, **fields)), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and expected in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


CSV = {"workloads": ["layers.csv"]}  # one tiny GEMM, beside the spec
HUGE = 10**30


def _csv_spec(tmp_path: Path, name: str = "spec.yaml", **fields) -> Path:
    (tmp_path / "layers.csv").write_text("name,M,K,N\nfc,64,128,32\n")
    return _spec(tmp_path, name, **{**CSV, **fields})


@pytest.mark.parametrize(("fields", "expected"), [
    ({"axes": [{"path": "method", "values": ["bdwp", "magic"]}]},
     'axes.0 (method): "magic": not a method (bdwp, srste, dense)'),
    ({"axes": [{"path": "sparsity", "values": ["2:4", "xx"]}]},
     "axes.0 (sparsity): \"xx\": expected 'dense' or 'N:M'"),
    ({"axes": [{"path": "sparsity", "values": ["4:2"]}]}, "N:M needs N < M"),
    ({"axes": [{"path": "dataflow.stationarity", "values": ["os", "xx"]}]},
     "axes.0 (dataflow.stationarity): \"xx\": Input should be 'os', 'ws', 'is' or 'auto'"),
    ({"axes": [{"zip": {"array.cols": [8, 16], "numerics.operand": ["fp16", "fp7"]}}]},
     "axes.0 (numerics.operand): \"fp7\": Input should be 'fp32'"),
    ({"axes": [{"path": "array.rows", "values": [16, HUGE]}]},
     f"axes.0 (array.rows): {HUGE}: Input should be less than or equal to 4096"),
    ({"axes": [{"path": "array.rows", "values": [0]}]},
     "axes.0 (array.rows): 0: Input should be greater than 0"),
    ({"axes": [{"path": "array.rows", "range": {"start": 8, "stop": 9, "step": 0.5}}]},
     "axes.0 (array.rows): 8.0: Input should be a valid integer"),
    ({"axes": [{"path": "vector.cycles_per_element.relu", "values": [HUGE]}]},
     f"axes.0 (vector.cycles_per_element.relu): {HUGE}: beyond the 64-bit integers"),
    ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
    ({"axes": [{"path": "array.rows", "values": [8]}, {"path": "array.rows", "values": [16]}]},
     "axes.1 (array.rows): axes.0 (array.rows) sets array.rows already"),
    ({"axes": [{"path": "array.rows", "values": [8]},
               {"zip": {"array.cols": [8], "array.rows": [16]}}]},
     "axes.1 (array.rows): axes.0 (array.rows) sets array.rows already"),
    ({"axes": [{"path": "array", "values": [{"rows": 8, "cols": 8}]},
               {"path": "array.rows", "values": [16]}]},
     "axes.1 (array.rows): axes.0 (array) sets array already"),
    ({"axes": [{"path": "workload", "values": ["layers.csv"]}]},
     "axes.0 (workload): workloads sets workload already"),
    ({"workloads": ["layers.csv", "missing.csv"]}, "workloads.1: missing.csv: no such file"),
    ({"sample": 3, "axes": [{"path": "array.rows", "values": [8, 16]}]},
     "sample: 3 is more than the 2 points of the grid"),
])
def test_a_value_its_field_rejects_is_a_spec_error_and_nothing_is_written(
        tmp_path, fields, expected):
    """Every axis value is checked alone against its field before anything runs: an unknown
    method, pattern or config enum, a number beyond the documented limits (or beyond a
    64-bit column), a negative seed, a path given twice (across zip axes, inside another
    axis's mapping, or beside the workloads list), a missing workload, a sample larger than
    the grid: one line naming the spec file and the field, and no results folder."""
    spec = _csv_spec(tmp_path, **fields)
    out = tmp_path / "out"
    with pytest.raises(SatsimError) as error:
        run_sweep(spec, out, workers=1)
    message = str(error.value)
    assert message.startswith(f"{spec}: ") and expected in message, message
    assert "\n" not in message and not out.exists()


def test_a_traceback_case_is_one_error_line_from_the_cli(tmp_path):
    """`method: [magic]` (a traceback that left a manifest and shards/ behind): exit 2,
    one `error:` line, no results folder."""
    spec = _csv_spec(tmp_path, axes=[{"path": "method", "values": ["magic"]}])
    done = _cli("sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f'error: {spec}: axes.0 (method): "magic": not a method (bdwp, ' \
                          "srste, dense)\n"
    assert not (tmp_path / "out").exists()


def test_an_unquoted_n_m_read_as_base_60_says_to_quote_it(tmp_path):
    """YAML 1.1 reads `2:8` unquoted as the base-60 integer 128: the error names the pattern
    and says to quote it."""
    spec = _csv_spec(tmp_path)
    spec.write_text(spec.read_text() + "axes:\n  - path: sparsity\n    values: [2:4, 2:8]\n")
    with pytest.raises(SatsimError) as error:
        run_sweep(spec, tmp_path / "out", workers=1)
    assert str(error.value) == (f"{spec}: axes.0 (sparsity): 124: YAML reads an unquoted 2:4 "
                                'as the base-60 number 124: quote it, "2:4"')
    assert not (tmp_path / "out").exists()


def test_values_valid_alone_but_not_together_are_failed_rows(tmp_path):
    """`array.timing: scalesim` is a value of its field, but a rule across fields wants
    `memory: ideal` with it, and the base preset has DRAM: that point is a failed row with
    the reason, not a spec error."""
    spec = _csv_spec(tmp_path, axes=[{"path": "array.timing", "values": ["scalesim", "satsim"]}])
    run_sweep(spec, tmp_path / "out", workers=1)
    frame = load_results(tmp_path / "out")
    assert list(frame["status"].sort_values()) == ["failed", "ok"]
    assert "use memory: ideal" in frame.loc[frame["status"] == "failed", "error"].item()


@pytest.mark.parametrize(("max_m", "code", "summary"), [
    ([4], 1, "2 of 2 points failed (the error column says why): 2 x --sparsity: 2:8: the MAC "
             "engine (array) runs N:M with M <= 4 only"),
    ([4, 8], 0, "2 of 4 points failed (the error column says why): 2 x --sparsity: 2:8: the "
                "MAC engine (array) runs N:M with M <= 4 only"),
])
def test_exit_status_and_summary_of_failed_points(tmp_path, max_m, code, summary):
    """A sweep in which every point fails exits 1; one with some failed points exits 0. Both
    print a line counting the failed points with the most common reasons."""
    spec = _csv_spec(tmp_path, axes=[{"path": "array.sparsity.max_m", "values": max_m},
                                     {"path": "method", "values": ["bdwp", "srste"]},
                                     {"path": "sparsity", "values": ["2:8"]}])
    out = tmp_path / "out"
    done = _cli("sweep", str(spec), "--out", str(out), "--workers", "1")
    assert done.returncode == code, done.stderr
    assert done.stdout.splitlines()[-1] == f"{out}: {summary}"


def test_a_resumed_sweep_counts_the_failures_already_in_the_folder(tmp_path):
    """Resuming a finished sweep whose points all failed runs nothing, and still reports
    every failed point with its reason (so `satsim sweep --resume` exits 1 again)."""
    spec = _csv_spec(tmp_path, axes=[{"path": "array.sparsity.max_m", "values": [4]},
                                     {"path": "sparsity", "values": ["2:8"]}])
    first = run_sweep(spec, tmp_path / "out", workers=1)
    again = run_sweep(spec, tmp_path / "out", workers=1, resume=True)
    assert (again.skipped, again.done, again.failed) == (1, 0, 0)
    assert again.failures == first.failures == (
        ("--sparsity: 2:8: the MAC engine (array) runs N:M with M <= 4 only", 1),)
    assert again.all_failed


def test_resume_with_another_spec_leaves_the_results_alone(tmp_path):
    """--resume against a folder made by a different spec is refused, and so is reusing a
    folder without --resume; its files stay byte for byte."""
    out = tmp_path / "out"
    run_sweep(_spec(tmp_path, axes=[{"path": "array.rows", "values": [16]}]), out, workers=1)
    before = _fingerprint(out)
    other = _spec(tmp_path, "other.yaml", axes=[{"path": "array.rows", "values": [8]}])
    for args in (("--resume",), ()):
        done = _cli("sweep", str(other), "--out", str(out), *args)
        assert done.returncode == 2 and "different sweep spec" in done.stderr, done.stderr
    same = _cli("sweep", str(tmp_path / "spec.yaml"), "--out", str(out))
    assert same.returncode == 2 and "add --resume" in same.stderr
    assert _fingerprint(out) == before


def test_unreachable_dask_scheduler_is_an_error(tmp_path):
    """--address of a port nobody listens on: one error line, no results folder."""
    pytest.importorskip("distributed")
    done = _cli("sweep", str(_spec(tmp_path)), "--out", str(tmp_path / "out"), "--engine",
                "dask", "--address", "tcp://127.0.0.1:9")
    assert done.returncode == 2 and "cannot reach a Dask scheduler" in done.stderr
    assert not (tmp_path / "out").exists()


def test_shipped_smoke_sweep(tmp_path, monkeypatch):
    """`satsim sweep smoke` (at most 8 points) runs from the shipped spec name."""
    # With a schedule cache, as a user's: the points of one array size share a dense twin.
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(tmp_path / "cache"))
    done = _cli("sweep", "smoke", "--out", str(tmp_path / "s"), "--workers", "2")
    assert done.returncode == 0, done.stderr
    frame = load_results(tmp_path / "s")
    assert len(frame) <= 8 and (frame["status"] == "ok").all()


def test_plot_pareto_of_a_sweep(tmp_path):
    """`satsim plot pareto DIR` draws the results to a PNG; a missing column is an error
    naming the folder."""
    run_sweep(_spec(tmp_path, **SAME), tmp_path / "r", workers=2)
    png = tmp_path / "p.png"
    done = _cli("plot", "pareto", str(tmp_path / "r"), "--x", "cycles", "--y", "utilization",
                "--max-y", "--color", "sparsity", "--out", str(png))
    assert done.returncode == 0, done.stderr
    assert png.read_bytes().startswith(b"\x89PNG")
    bad = _cli("plot", "pareto", str(tmp_path / "r"), "--x", "cycels", "--y", "utilization",
               "--out", str(tmp_path / "q.png"))
    assert bad.returncode == 2 and str(tmp_path / "r") in bad.stderr and "cycles" in bad.stderr
    assert not (tmp_path / "q.png").exists()


def test_unknown_shipped_spec_names_the_folder(tmp_path):
    """A spec that is neither a file nor a shipped name is an error pointing at the examples."""
    with pytest.raises(SatsimError, match=r"sweep spec \(shipped: paper-models, smoke\)"):
        load_spec("no-such-sweep")


def test_files_named_in_a_spec_are_found_beside_it(tmp_path):
    """A spec's relative workload and hardware files resolve against the spec's folder, not
    the directory the sweep is started from."""
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "layers.csv").write_text("name,M,K,N\nfc,64,128,32\n")
    (folder / "hw.yaml").write_text(yaml.safe_dump(load_hardware("sat-small").model_dump()))
    spec = _spec(folder, workloads=["layers.csv"], hardware="hw.yaml",
                 axes=[{"path": "sparsity", "values": ["2:4"]}])
    done = _cli("sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1",
                cwd=tmp_path.parent)
    assert done.returncode == 0, done.stderr
    assert (load_results(tmp_path / "out")["status"] == "ok").all()


def test_a_worker_refuses_a_workload_other_than_the_planned_one(tmp_path):
    """A point is simulated only on the workload bytes its id was computed from: a worker
    whose copy differs records the point as failed, naming the file."""
    from satsim.sweep.worker import run_batch

    csv = tmp_path / "layers.csv"
    csv.write_text("name,M,K,N\nfc,64,128,32\n")
    points = _points(tmp_path, workloads=[str(csv)])
    assert run_batch(points)[0]["status"] == "ok"
    csv.write_text("name,M,K,N\nfc,64,128,64\n")
    (row,) = run_batch(points)
    assert row["status"] == "failed" and "differs from the copy" in row["error"]


# A folder with ok and failed points, points of three methods, and one point per shard: a
# shard of a failed point (no metric filled) and a dense point's (no speedup) among them.
MIXED = {"batch_size": 1, "axes": [
    {"path": "array.sparsity.max_m", "values": [4, 8]},
    {"zip": {"method": ["bdwp", "srste", "dense"], "sparsity": ["2:8", "2:4", "dense"]}}]}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    run_sweep(_csv_spec(folder, **MIXED), folder / "out", workers=1)
    return folder / "out"


def _same_rows_as_load_results(frame: pd.DataFrame, out: Path) -> None:
    """``frame`` (from another reader) has the rows, columns and values of load_results."""
    expected = load_results(out)
    assert sorted(frame.columns) == sorted(expected.columns)
    got = frame[list(expected.columns)].sort_values("point_id").reset_index(drop=True)

    def cells(df):
        return df.astype(object).where(df.notna(), None).to_numpy().tolist()

    assert cells(got) == cells(expected)


def test_the_mixed_folder_has_what_the_reader_tests_need(mixed):
    """Six points: one failed (2:8 beyond max_m 4), and ok points of bdwp, srste and dense."""
    frame = load_results(mixed)
    assert len(frame) == 6 and list(frame["status"]).count("failed") == 1
    assert set(frame.loc[frame["status"] == "ok", "method"]) == {"bdwp", "srste", "dense"}
    assert len(list((mixed / "shards").glob("*.parquet"))) == 6


def test_every_shard_has_the_same_schema(mixed):
    """A failed point's shard (no metric) and a dense point's (no speedup) carry every column,
    typed, as every other shard does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(path) for path in sorted((mixed / "shards").glob("*.parquet"))]
    assert all(schema.equals(schemas[0]) for schema in schemas)
    types = {field.name: field.type for field in schemas[0]}
    assert (types["cycles"], types["speedup"], types["error"]) == (
        pa.int64(), pa.float64(), pa.string())
    assert pa.null() not in types.values()


def test_pandas_reads_the_results_folder(mixed):
    """`pandas.read_parquet(OUT)` gives load_results' rows and values."""
    _same_rows_as_load_results(pd.read_parquet(mixed), mixed)


def test_pyarrow_dataset_reads_the_results_folder(mixed):
    """`pyarrow.dataset.dataset(OUT)` sees the shards' one schema, and `.to_table()` gives
    load_results' rows and values."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(mixed)
    assert len(dataset.files) == 6 and all(f.endswith(".parquet") for f in dataset.files)
    _same_rows_as_load_results(dataset.to_table().to_pandas(), mixed)


def test_dask_reads_the_results_folder(mixed):
    """`dask.dataframe.read_parquet(OUT)` gives load_results' rows and values."""
    dd = pytest.importorskip("dask.dataframe")
    _same_rows_as_load_results(dd.read_parquet(str(mixed)).compute(), mixed)


def test_duckdb_reads_the_results_folder(mixed):
    """DuckDB's `read_parquet('OUT/**/*.parquet')` gives load_results' rows and values."""
    duckdb = pytest.importorskip("duckdb")
    frame = duckdb.sql(f"select * from read_parquet('{mixed}/**/*.parquet')").df()
    _same_rows_as_load_results(frame, mixed)


def test_a_folder_of_the_first_layout_is_read_but_not_extended(tmp_path, mixed):
    """A folder written before the manifest was renamed (`manifest.json`, schema
    satsim.sweep/1, a failed point's shard without the metric columns) still loads, with the
    same frame; resuming it is refused with one line, and it is left as it was."""
    import pyarrow.parquet as pq

    old = tmp_path / "old"
    shutil.copytree(mixed, old)
    manifest = json.loads((old / "_manifest.json").read_text())
    (old / "_manifest.json").unlink()
    (old / "manifest.json").write_text(json.dumps({**manifest, "schema": "satsim.sweep/1"}))
    for shard in (old / "shards").glob("*.parquet"):
        table = pq.read_table(shard)
        if table.column("status").to_pylist() == ["failed"]:  # as the first layout wrote it
            pq.write_table(table.drop_columns(list(METRICS)), shard)
    assert sum("cycles" not in pq.read_schema(shard).names
               for shard in (old / "shards").glob("*.parquet")) == 1
    pd.testing.assert_frame_equal(load_results(old), load_results(mixed))
    before = _fingerprint(old)
    spec = mixed.parent / "spec.yaml"
    done = _cli("sweep", str(spec), "--out", str(old), "--resume", "--workers", "1")
    assert done.returncode == 2 and done.stderr == (
        f"error: {old}: holds results in the first layout (manifest.json), which load_results "
        "reads but a sweep does not extend: use another --out\n")
    assert _fingerprint(old) == before


def test_every_metric_of_a_run_has_its_declared_column_type(tmp_path):
    """Each metric a run reports (one per declared metric) holds a value of the column type
    the sweep's shards give it (a sparse run with its dense twin, DRAM and an energy table
    fills every one)."""
    from satsim.api import run
    from satsim.sweep.store import value_kind

    (tmp_path / "layers.csv").write_text("name,M,K,N\nfc,64,128,32\n")
    metrics = run(tmp_path / "layers.csv", sparsity="2:4").metrics()
    assert {name: value_kind([value]) for name, value in metrics.items()} == {
        name: metric.kind for name, metric in METRICS.items()}


def test_a_row_with_an_undeclared_column_is_refused(tmp_path):
    """A metric a run reports but the sweep's schema lacks would vanish from the results:
    writing it is refused, and no shard is written."""
    from satsim.sweep.store import row_schema, write_shard

    (tmp_path / "shards").mkdir()
    with pytest.raises(ValueError, match=r"\['new_metric'\].*METRICS"):
        write_shard(tmp_path, [{"point_id": "a", "new_metric": 1}], row_schema({"point_id": "str"}))
    assert not any((tmp_path / "shards").iterdir())


def test_a_spec_without_a_dataflow_takes_the_hardwares():
    """A spec that names hardware but no dataflow sweeps under the dataflow the hardware
    names (scalesim: scalesim-ws), as `satsim run --hw scalesim` does."""
    spec = SweepSpec.model_validate({"name": "s", "hardware": "scalesim",
                                     "workloads": ["resnet9-cifar-dense"],
                                     "axes": [{"path": "array.rows", "values": [8, 16]}]})
    assert {point.dataflow for point in expand(spec)} == {"scalesim-ws"}


@pytest.mark.parametrize(("axes", "expected"), [
    ([{"path": "dataflow", "values": ["sat", "naive"]}],
     'axes.0 (dataflow): "sat": choose the dataflow with --dataflow'),
    ([{"path": "array.rows", "values": [8]}, {"path": "units.array.rows", "values": [16]}],
     "axes.1 (units.array.rows): axes.0 (array.rows) sets array.rows already"),
    ([{"path": "arrray.rows", "values": [8]}], "axes.0 (arrray.rows): no such config path"),
])
def test_unit_paths_are_checked_as_the_loader_reads_them(tmp_path, axes, expected):
    """A unit's field is one path however it is spelled (NAME.FIELD or units.NAME.FIELD); a
    name that is no unit is no path; the hardware's default dataflow is no axis."""
    spec = _spec(tmp_path, axes=axes)
    with pytest.raises(SatsimError, match=re.escape(expected)):
        expand(load_spec(spec)[0], spec)
    assert not (tmp_path / "out").exists()
