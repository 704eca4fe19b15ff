"""Sweep throughput: points per minute of a 64-point ResNet-18 CIFAR sweep, local pool vs Dask.

    python benchmarks/bench_sweep.py [--repeats 5]

The sweep: ``resnet18-cifar-dense`` re-annotated per point (BDWP), 4 array shapes x 4 clocks
x 4 N:M patterns = 64 points, each a full training iteration with its dense twin on the SAT
preset (its DRAM and buffers: the clock also sets the DRAM's bytes per cycle), scheduled by
the offline scheduler each time: the schedule cache is off (``SATSIM_CACHE_DIR=off``, which
the workers inherit), as in a sweep's first run.

Each configuration runs ``run_sweep`` into a fresh temporary folder ``--repeats`` times (after
one untimed one-worker sweep that warms the page cache and imports), configurations taking
turns so that load from elsewhere on the host hits them alike; medians are reported:

* ``local x1``, ``local x2``: the process pool with 1 and 2 workers; the wall time includes
  the pool's start-up, as a user of ``satsim sweep`` sees it;
* ``dask x2, incl. start``: ``engine="dask"`` without an address, so ``run_sweep`` starts and
  stops a 2-worker ``LocalCluster`` each time;
* ``dask x2, excl. start``: a cluster started once here and reached by ``address`` (only the
  client connection is timed).

The local pool is timed first, before this process touches Dask, as ``satsim sweep`` runs it;
the Dask ratio compares with ``local x2`` timed again in turn with the Dask runs (same host
conditions, same Dask threads in this process).

Start-up alone (``make_executor`` entered, one import task per worker, exited) is timed for
both engines and printed beside them, with the rate once it is subtracted (``pts/min excl.``);
so is the spec's expansion, which runs serially in the submitting process before any point
starts (Amdahl's serial part). Targets: 2 workers >= 1.8x one worker; Dask (started once)
within 10 % of the local pool with 2 workers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from satsim.sweep import expand, load_spec, make_executor, run_sweep

WORKERS = 2
SPEC = {
    "name": "bench-sweep",
    "hardware": "sat",
    "dataflow": "sat",
    "workloads": ["resnet18-cifar-dense"],
    "axes": [
        {"zip": {"array.rows": [16, 32, 64, 128], "array.cols": [16, 32, 64, 128]}},
        {"path": "clock_mhz", "values": [100, 200, 400, 800]},
        {"path": "sparsity", "values": ["1:4", "2:4", "1:8", "2:8"]},
        {"path": "method", "values": ["bdwp"]},
    ],
}


def _warm(index: int) -> tuple[int, int]:
    """A start-up probe task: the imports a sweep's first point pays.

    ``index`` only makes the tasks distinct: Dask runs equal (pure) calls once.
    """
    importlib.import_module("satsim.api")
    return index, os.getpid()


def startup_seconds(engine: str, workers: int) -> float:
    """Wall time to bring an executor up, run one import task per worker, and close it."""
    start = time.perf_counter()
    with make_executor(engine, workers, None) as executor:
        for future in [executor.submit(_warm, i) for i in range(workers)]:
            future.result()
    return time.perf_counter() - start


def sweep_seconds(spec: Path, engine: str, workers: int, address: str | None = None) -> float:
    """Wall time of one ``run_sweep`` of ``spec`` into a fresh folder; checks every point ran."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        start = time.perf_counter()
        summary = run_sweep(spec, Path(tmp) / "out", engine=engine, workers=workers,
                            address=address)
        seconds = time.perf_counter() - start
    if summary.done != summary.points or summary.failed:
        raise RuntimeError(f"benchmark sweep incomplete: {summary.describe()}")
    return seconds


def expand_seconds(spec: Path) -> float:
    """Wall time to read and expand the spec (what ``run_sweep`` does before submitting)."""
    start = time.perf_counter()
    expand(load_spec(spec)[0], spec)
    return time.perf_counter() - start


def round_robin(repeats: int,
                measures: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each measure ``repeats`` times, taking turns: load from elsewhere on the host then
    slows every configuration alike instead of skewing their ratios."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            times[name].append(measure())
    return times


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed sweeps per configuration")
    parser.add_argument("--spec", metavar="NAME|FILE",
                        help="time this sweep instead of the built-in 64-point ResNet-18 "
                             "one (e.g. paper-models: 200 points)")
    args = parser.parse_args()
    os.environ["SATSIM_CACHE_DIR"] = "off"  # every repeat searches its schedules, as a first run
    from distributed import LocalCluster

    print(f"host: {os.cpu_count()} CPUs, load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-spec-") as tmp:
        spec = Path(tmp) / "bench-sweep.yaml"
        spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
        if args.spec is not None:
            spec = args.spec
        points = len(expand(load_spec(spec)[0], spec))
        sweep_seconds(spec, "local", 1)  # warm-up: page cache, parent-side imports
        # Phase 1, before this process touches Dask (as `satsim sweep --engine local` runs).
        times = round_robin(args.repeats, {
            "local x1": lambda: sweep_seconds(spec, "local", 1),
            f"local x{WORKERS}": lambda: sweep_seconds(spec, "local", WORKERS),
            "expand": lambda: expand_seconds(spec),
            "start local": lambda: startup_seconds("local", WORKERS),
        })
        # Phase 2: Dask, with the local pool measured again beside it as the reference for
        # the Dask ratio (same host conditions, same Dask threads in this process).
        with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster:
            address = cluster.scheduler_address
            sweep_seconds(spec, "dask", WORKERS, address)  # warm the long-lived workers
            times |= round_robin(args.repeats, {
                f"dask x{WORKERS}, incl. start": lambda: sweep_seconds(spec, "dask", WORKERS),
                f"dask x{WORKERS}, excl. start":
                    lambda: sweep_seconds(spec, "dask", WORKERS, address),
                "local beside dask": lambda: sweep_seconds(spec, "local", WORKERS),
                "start dask": lambda: startup_seconds("dask", WORKERS),
            })
        load_end = os.getloadavg()

    def stats(name: str) -> tuple[float, float, float]:
        return statistics.median(times[name]), min(times[name]), max(times[name])

    local_start, dask_start = stats("start local")[0], stats("start dask")[0]
    expansion = stats("expand")[0]
    rows: dict[str, tuple[tuple[float, float, float], float | None]] = {
        "local x1": (stats("local x1"), local_start),
        f"local x{WORKERS}": (stats(f"local x{WORKERS}"), local_start),
        f"dask x{WORKERS}, incl. start": (stats(f"dask x{WORKERS}, incl. start"), dask_start),
        f"dask x{WORKERS}, excl. start": (stats(f"dask x{WORKERS}, excl. start"), None),
    }

    print(f"\n{points}-point sweep, median of {args.repeats} (wall time of run_sweep):")
    print(f"{'configuration':<24}{'median s':>10}{'min s':>8}{'max s':>8}{'points/min':>12}"
          f"{'start-up s':>12}{'pts/min excl.':>15}")
    rate: dict[str, float] = {}
    for name, ((median, low, high), start) in rows.items():
        rate[name] = points / median * 60
        excl = (f"{points / (median - start) * 60:>15.0f}" if start is not None and
                median > start else f"{'':>15}")
        shown_start = f"{start:>12.2f}" if start is not None else f"{'(outside)':>12}"
        print(f"{name:<24}{median:>10.2f}{low:>8.2f}{high:>8.2f}{rate[name]:>12.0f}"
              f"{shown_start}{excl}")

    print(f"spec expansion (serial, before any point runs): {expansion * 1e3:.0f} ms, "
          f"{expansion / rows['local x1'][0][0]:.0%} of the one-worker sweep")
    scaling = rate[f"local x{WORKERS}"] / rate["local x1"]
    beside = stats("local beside dask")[0]
    dask_ratio = beside / rows[f"dask x{WORKERS}, excl. start"][0][0]
    dask_cold = beside / rows[f"dask x{WORKERS}, incl. start"][0][0]
    print(f"local x{WORKERS} measured again beside the Dask runs (their reference): "
          f"{beside:.2f} s")
    print(f"\nlocal x{WORKERS} / local x1: {scaling:.2f}x  (target >= 1.8x: "
          f"{verdict(scaling >= 1.8)})")
    print(f"dask x{WORKERS} (cluster started once) / local x{WORKERS}: {dask_ratio:.2f}  "
          f"(target >= 0.90: {verdict(dask_ratio >= 0.9)})")
    print(f"dask x{WORKERS} (cluster started per sweep) / local x{WORKERS}: {dask_cold:.2f}  "
          "(for information: a LocalCluster per sweep)")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in load_end)}")


if __name__ == "__main__":  # process pools and Dask's LocalCluster spawn workers
    main()
