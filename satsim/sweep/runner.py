"""Run a sweep on any ``concurrent.futures.Executor``: the local process pool, or Dask.

The sweep logic is written once: batches of points are submitted to an executor and each
finished batch becomes a shard. ``local`` is the standard library's process pool; ``dask``
is a Dask distributed client's executor, on a running scheduler (``address``) or on a
``LocalCluster`` started here.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from satsim import __version__
from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.pool import local_pool, worker_count
from satsim.report.summary import METRICS
from satsim.sweep.spec import Point, SweepSpec, expand, load_spec
from satsim.sweep.store import (
    SCHEMA,
    check_store,
    init_store,
    row_schema,
    value_kind,
    write_shard,
)
from satsim.sweep.worker import HOST, run_batch

REASONS_SHOWN = 3  # the most common reasons of failure a summary names
REASON_CHARS = 160  # each cut to this length


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did in this invocation, and why its results folder's failed points
    failed."""

    points: int  # distinct points in the spec
    skipped: int  # already in the results directory (--resume)
    done: int  # simulated now, successfully
    failed: int  # recorded as failed now (invalid point or rejected input)
    seconds: float
    # Every failed point of the folder (this run's and resumed ones): (reason, how many
    # points), the most common first.
    failures: tuple[tuple[str, int], ...] = ()

    @property
    def failed_in_folder(self) -> int:
        """Failed points in the results folder, this run's and resumed ones."""
        return sum(count for _, count in self.failures)

    @property
    def all_failed(self) -> bool:
        """Whether no point of the sweep succeeded (``satsim sweep`` then exits 1)."""
        return self.failed_in_folder == self.points

    def describe(self) -> str:
        resumed = f", {self.skipped} already done" if self.skipped else ""
        return (f"{self.points} points: {self.done} done, {self.failed} failed{resumed} "
                f"in {self.seconds:.1f} s")

    def describe_failures(self) -> str | None:
        """One line: how many points failed and the most common reasons (None: none did)."""
        if not self.failures:
            return None
        reasons = [f"{count} x {textwrap.shorten(reason, REASON_CHARS, placeholder='...')}"
                   for reason, count in self.failures[:REASONS_SHOWN]]
        others = len(self.failures) - REASONS_SHOWN
        if others > 0:
            reasons.append(f"{others} other reason{'s' * (others > 1)}")
        return (f"{self.failed_in_folder} of {self.points} points failed (the error column "
                "says why): "
                + "; ".join(reasons))


def _normalize(points: list[Point], types: dict[str, str]) -> list[Point]:
    """Config values of mixed kinds are stored as their JSON text (one column, one type)."""
    fixed = []
    for p in points:
        columns = {k: (json.dumps(v) if types[k] == "str" and not isinstance(v, str | None)
                       else float(v) if types[k] == "float" and v is not None else v)
                   for k, v in p.columns.items()}
        fixed.append(replace(p, columns=columns))
    return fixed


def _batch_size(spec: SweepSpec, todo: int, workers: int) -> int:
    if spec.batch_size is not None:
        return spec.batch_size
    # Four batches per worker balance the load while the submitting process writes few
    # shards (it shares the cores with the workers); 32 points bound what a crash loses, and
    # keep the scheduling overhead (ms per task) negligible.
    return max(1, min(32, math.ceil(todo / (4 * workers))))


def _batches(todo: list[Point], size: int) -> list[list[Point]]:
    """``todo`` in batches of at most ``size`` points, batch i taking every k-th point from
    the i-th: the spec's axes vary fastest last, so contiguous batches would give one worker
    all the costly points of an outer axis (a small array's many tiles) and leave the other
    idle at the end."""
    count = math.ceil(len(todo) / size)
    return [todo[i::count] for i in range(count)]


@contextmanager
def make_executor(engine: str, workers: int, address: str | None) -> Iterator[Executor]:
    """The executor a sweep runs on (see the module doc)."""
    if engine == "local":
        if address is not None:
            raise SatsimError("--address needs --engine dask", source="--address")
        with local_pool(workers) as pool:  # it inherits what run_sweep warmed
            yield pool
        return
    if engine != "dask":
        raise SatsimError(f"unknown engine {engine!r} (local, dask)", source="--engine")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SatsimError("needs Dask: pip install 'satsim[dask]'",
                          source="--engine dask") from None
    if address is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(address, timeout="5s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SatsimError(f"cannot reach a Dask scheduler there: {exc}",
                              source=f"--address {address}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class _Progress:
    """A bar with ETA on a terminal; otherwise a line per finished batch."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.count, self.failed = total, 0, 0
        self.start = time.perf_counter()
        self.lines = enabled and not sys.stderr.isatty()
        self.bar = None
        if enabled and not self.lines:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="pt", desc="sweep", file=sys.stderr)

    def update(self, rows: list[dict]) -> None:
        self.count += len(rows)
        self.failed += sum(row["status"] != "ok" for row in rows)
        if self.bar is not None:
            self.bar.update(len(rows))
            self.bar.set_postfix(failed=self.failed)
        elif self.lines:
            spent = time.perf_counter() - self.start
            eta = spent / self.count * (self.total - self.count)
            print(f"sweep: {self.count}/{self.total} points ({self.failed} failed), "
                  f"{spent:.1f} s, ETA {eta:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep(spec_path: str | Path, out: str | Path, *, engine: str = "local",
              workers: int | None = None, address: str | None = None, resume: bool = False,
              progress: bool = False) -> SweepSummary:
    """Run (or resume) the sweep of ``spec_path`` into the results directory ``out``."""
    start = time.perf_counter()
    spec, raw = load_spec(spec_path)
    workers = worker_count(workers)
    points = list({p.point_id: p for p in expand(spec, spec_path)}.values())  # run once each
    columns = list(dict.fromkeys(k for p in points for k in p.columns))
    # A config column's type comes from every value the spec gives it (all missing: str).
    types = {c: value_kind([p.columns.get(c) for p in points]) or "str" for c in columns}
    points = _normalize(points, types)
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    # The base presets as resolved now.
    presets = {"hardware": load_hardware(points[0].hardware).model_dump(mode="json"),
               "dataflow": load_dataflow(points[0].dataflow).model_dump(mode="json")}
    manifest = {
        "schema": SCHEMA, "name": spec.name, "satsim_version": __version__,
        "spec_sha256": hashlib.sha256(canonical.encode()).hexdigest(), "spec": raw,
        "presets": presets, "points": len(points), "columns": columns, "column_types": types,
    }
    schema = row_schema({"point_id": "str", **types, "status": "str", "error": "str",
                         **{name: METRICS[name].kind for name in sorted(METRICS)},
                         **dict(sorted(HOST.items()))})
    out = Path(out)
    finished = check_store(out, manifest, resume)
    todo = [p for p in points if p.point_id not in finished]
    size = _batch_size(spec, len(todo), workers)
    batches = _batches(todo, size)
    if engine == "local":  # warm what forked workers inherit (expand parsed the traces)
        from satsim.api import run  # noqa: F401
    bar = _Progress(len(todo), progress)
    done = failed = 0
    reasons = Counter(error for error in finished.values() if error is not None)
    try:
        if not batches:
            init_store(out, manifest)
        else:  # the executor first: an unreachable scheduler leaves no folder behind
            with make_executor(engine, workers, address) as executor:
                init_store(out, manifest)
                futures = [executor.submit(run_batch, batch) for batch in batches]
                for future in as_completed(futures):
                    rows = future.result()
                    write_shard(out, rows, schema)
                    bar.update(rows)
                    reasons.update(row["error"] for row in rows if row["status"] != "ok")
                    failed += sum(row["status"] != "ok" for row in rows)
                    done += sum(row["status"] == "ok" for row in rows)
    finally:
        bar.close()
    return SweepSummary(points=len(points), skipped=len(points) - len(todo), done=done,
                        failed=failed, seconds=time.perf_counter() - start,
                        failures=tuple(reasons.most_common()))
