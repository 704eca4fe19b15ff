"""Design-space sweeps: deterministic expansion, failed points kept, same rows on every
executor, nothing lost or duplicated when killed and resumed, clean errors."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from satsim.config import load_hardware
from satsim.errors import SatsimError
from satsim.sweep import expand, load_results, load_spec, run_sweep

BASE = {"name": "t", "workloads": ["resnet18-cifar-dense"]}


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
    """rows = 0 and a pattern that prunes nothing are recorded as failed, with the reason;
    the other points run."""
    spec = _spec(tmp_path, axes=[{"path": "array.rows", "values": [0, 32]},
                                 {"path": "sparsity", "values": ["3:7", "2:8"]}])
    summary = run_sweep(spec, tmp_path / "out", workers=1)
    assert (summary.done, summary.failed) == (1, 3)
    frame = load_results(tmp_path / "out").set_index(["array.rows", "sparsity"])
    assert "greater than 0" in frame.loc[(0, "2:8"), "error"]
    assert "makes no layer sparse" in frame.loc[(32, "3:7"), "error"]
    ok = frame.loc[(32, "2:8")]
    assert ok["status"] == "ok" and pd.isna(ok["error"])
    assert 1.5 < ok["speedup"] < ok["ideal_mac_speedup"]


def test_baseline_off_leaves_speedup_empty(tmp_path):
    """`baseline: false` skips the dense twins: no speedup column values."""
    spec = _spec(tmp_path, baseline=False, axes=[{"path": "sparsity", "values": ["2:8"]}])
    run_sweep(spec, tmp_path / "out", workers=1)
    frame = load_results(tmp_path / "out")
    assert frame["speedup"].isna().all() and (frame["cycles"] > 0).all()


SAME = {"axes": [{"path": "array.rows", "values": [16, 32]},
                 {"path": "sparsity", "values": ["2:4", "2:8", "1:8"]}], "batch_size": 2}


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
    spec = _spec(tmp_path, axes=[{"path": "array.rows", "values": [8, 16, 24, 32]},
                                 {"path": "array.cols", "values": [16, 32]},
                                 {"path": "sparsity", "values": ["2:4", "2:8"]}], batch_size=1)
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


def _fingerprint(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"axes": [{"path": "array.depth", "values": [1]}]}, "axes: array.depth: no such config"),
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


def test_shipped_smoke_sweep(tmp_path):
    """`satsim sweep smoke` (at most 8 points) runs from the shipped spec name."""
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
