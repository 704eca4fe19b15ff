"""The schedule cache: where it lives, how to switch it off, and that a cache which cannot be
read or written costs only time: the run searches, with the same result, and says nothing."""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import satsim.search.evaluate as fast
from satsim.config import load_dataflow, load_hardware
from satsim.search.cache import cache_dir, caching_off
from satsim.trace.workload import load_workload

SAT, POLICY = load_hardware("sat"), load_dataflow("sat")  # tiles: every GEMM has choices
TINY = "name,M,K,N,sparsity\nfc1,64,512,256,2:4\nfc2,32,64,16\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("workload") / "tiny.csv"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def trace(tiny):
    return load_workload(tiny)


@pytest.fixture
def searches(monkeypatch) -> list:
    """The searches run from now on (a read from the cache runs none); nothing remembered in
    this process, as in a new one."""
    calls: list = []
    real = fast.candidate_orders
    monkeypatch.setattr(fast, "candidate_orders", lambda *a: calls.append(a) or real(*a))
    fast._CHOSEN.clear()
    return calls


def _fresh(trace):
    """The run of a new process: nothing remembered but what is on disk."""
    fast._CHOSEN.clear()
    return fast.evaluate(trace, SAT, POLICY)


def _same(a, b) -> bool:
    return (a.cycles, a.rows, a.schedule.ops, a.schedule.order) == (
        b.cycles, b.rows, b.schedule.ops, b.schedule.order)


@pytest.fixture(scope="module")
def searched(trace):
    with caching_off():
        return _fresh(trace)


@pytest.mark.parametrize("env, where", [
    ({"SATSIM_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}, "/c"),
    ({"SATSIM_CACHE_DIR": "off", "XDG_CACHE_HOME": "/x"}, None),
    ({"XDG_CACHE_HOME": "/x"}, "/x/satsim"),
    ({"XDG_CACHE_HOME": "relative"}, "/h/.cache/satsim"),  # the XDG spec: ignore it
    ({"XDG_CACHE_HOME": ""}, "/h/.cache/satsim"),
    ({}, "/h/.cache/satsim"),
])
def test_the_cache_folder(monkeypatch, env, where):
    """$SATSIM_CACHE_DIR (off: none), else $XDG_CACHE_HOME/satsim when absolute, else
    ~/.cache/satsim."""
    for name in ("SATSIM_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/h")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cache_dir() == (None if where is None else Path(where))


def test_a_search_is_cached_under_xdg_cache_home(trace, searched, searches, tmp_path,
                                                 monkeypatch):
    """With only XDG_CACHE_HOME set, the search's schedule lands in $XDG_CACHE_HOME/satsim
    and the next process reads it instead of searching."""
    monkeypatch.delenv("SATSIM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = _fresh(trace)
    assert len(list((tmp_path / "satsim" / "schedules").glob("*.json"))) == 1
    again = _fresh(trace)
    assert len(searches) == 1 and _same(again, first) and _same(first, searched)


def test_caching_off_restores_the_environment(monkeypatch):
    """--no-cache's switch holds inside only, whatever the variable was before."""
    monkeypatch.setenv("SATSIM_CACHE_DIR", "/c")
    with caching_off():
        assert cache_dir() is None
    assert cache_dir() == Path("/c")
    monkeypatch.delenv("SATSIM_CACHE_DIR")
    with caching_off():
        assert os.environ["SATSIM_CACHE_DIR"] == "off"
    assert "SATSIM_CACHE_DIR" not in os.environ


def _file_as_folder(root: Path) -> Path:
    root.write_text("not a folder")
    return root


def _file_as_schedules(root: Path) -> Path:
    root.mkdir()
    (root / "schedules").write_text("not a folder")
    return root


def _below_a_file(root: Path) -> Path:
    root.write_text("not a folder")
    return root / "deeper"


@pytest.mark.parametrize("make", [_file_as_folder, _file_as_schedules, _below_a_file],
                         ids=["file-where-the-folder-should-be", "file-as-schedules",
                              "below-a-file"])
def test_a_cache_that_cannot_be_written_only_costs_the_search(trace, searched, searches,
                                                              tmp_path, monkeypatch, make):
    """No error, no warning, the searched result; the next process searches again."""
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(make(tmp_path / "cache")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first, again = _fresh(trace), _fresh(trace)
    assert _same(first, searched) and _same(again, searched) and len(searches) == 2


def _entry(trace, tmp_path, monkeypatch) -> Path:
    """The cache entry of the tiny run, written by a search."""
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(tmp_path))
    _fresh(trace)
    (entry,) = (tmp_path / "schedules").glob("*.json")
    return entry


def _flip_stationarities(text: str) -> str:
    """The entry with every GEMM's other stationarity: a valid schedule, and the tiny GEMMs
    run as fast either way, but not the search's choice."""
    entry = json.loads(text)
    for op in entry["schedule"]["ops"]:
        op["stationarity"] = {"os": "ws", "ws": "os"}[op["stationarity"]]
    return json.dumps(entry)


@pytest.mark.parametrize("damage", [
    lambda text: b"\xff\x00" * 8,
    lambda text: text[: len(text) // 2].encode(),
    lambda text: b"[]",
    lambda text: ("[" * 100_000 + "]" * 100_000).encode(),
    lambda text: text.replace('"version": 1', '"version": true').encode(),
    lambda text: _flip_stationarities(text).encode(),
], ids=["binary", "truncated", "not-a-schedule", "deep-nesting", "bool-version",
        "valid-but-not-what-was-searched"])
def test_a_damaged_cache_entry_is_searched_again_and_replaced(trace, searched, searches,
                                                              tmp_path, monkeypatch, damage):
    """An entry that cannot be read, or that was changed since it was written (even into
    another valid schedule), counts as none: the run searches, gives the searched result,
    and writes the entry anew for the next process."""
    entry = _entry(trace, tmp_path, monkeypatch)
    good = entry.read_text()
    entry.write_bytes(damage(good))
    searches.clear()
    assert _same(_fresh(trace), searched) and len(searches) == 1
    assert entry.read_text() == good


@pytest.fixture
def user_cli():
    """Run ``satsim`` as a user would: without root's power to ignore file permissions."""
    exe = shutil.which("satsim")
    base = [exe] if exe else [sys.executable, "-m", "satsim"]
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file-permission override")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]

    def run(*args):
        return subprocess.run([*prefix, *base, *args], capture_output=True, text=True,
                              timeout=300)

    return run


def test_a_read_only_cache_folder_only_costs_the_search(user_cli, tiny, tmp_path,
                                                       monkeypatch):
    """A cache folder the user may not write: exit 0, the output of a run without cache,
    nothing written."""
    schedules = tmp_path / "cache" / "schedules"
    schedules.mkdir(parents=True)
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(tmp_path / "cache"))
    args = ("run", "--workload", str(tiny), "--hw", "sat", "--json", "-")
    for folder in (schedules, schedules.parent):
        folder.chmod(0o555)
    try:
        run, searched = user_cli(*args), user_cli(*args, "--no-cache")
    finally:
        for folder in (schedules, schedules.parent):
            folder.chmod(0o755)
    assert run.returncode == 0 and (run.stdout, run.stderr) == (searched.stdout,
                                                                searched.stderr)
    assert list(schedules.iterdir()) == []


def test_a_cache_folder_that_cannot_be_read_only_costs_the_search(user_cli, tiny, tmp_path,
                                                                  monkeypatch):
    """A cache folder, holding the run's entry, that the user may not read or enter
    (permission denied): exit 0, the output of a run without cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(cache))
    args = ("run", "--workload", str(tiny), "--hw", "sat", "--json", "-")
    assert user_cli(*args).returncode == 0 and list(cache.glob("schedules/*.json"))
    cache.chmod(0o000)
    try:
        run, searched = user_cli(*args), user_cli(*args, "--no-cache")
    finally:
        cache.chmod(0o755)
    assert run.returncode == 0 and (run.stdout, run.stderr) == (searched.stdout,
                                                                searched.stderr)


@pytest.mark.parametrize("command", ["run", "schedule"])
def test_no_cache_neither_reads_nor_writes_the_cache(cli, tiny, tmp_path, monkeypatch,
                                                      command):
    """satsim run/schedule --no-cache leave the cache folder untouched; without it, the
    search is stored there."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(cache))
    args = [command, "--workload", str(tiny), "--hw", "sat"]
    if command == "schedule":
        args += ["--out", str(tmp_path / "s.yaml")]
    assert cli(*args, "--no-cache").returncode == 0
    assert not cache.exists()
    assert cli(*args).returncode == 0
    assert list(cache.glob("schedules/*.json"))


def test_no_cache_reaches_the_worker_processes_of_compare(cli, tiny, tmp_path, monkeypatch):
    """satsim compare --workers 2 simulates in worker processes: they store their searches
    (dense, SR-STE, BDWP), except with --no-cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(cache))
    args = ["compare", "--workloads", str(tiny), "--hw", "sat", "--workers", "2"]
    off = cli(*args, "--no-cache")
    assert off.returncode == 0, off.stderr
    assert not cache.exists()
    assert cli(*args).returncode == 0
    assert len(list(cache.glob("schedules/*.json"))) == 3
