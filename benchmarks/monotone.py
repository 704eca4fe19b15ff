"""More of one resource under SAT's optimizations: searched again, and with the schedule fixed.

    python benchmarks/monotone.py [--models A,B,...] [--workers N]

For every model (its dense, srste and bdwp runs, as ``satsim compare`` makes them) on the SAT
preset with the sat dataflow, each resource in turn is doubled (the DRAM latency halved):
DRAM channels and bandwidth, SORE and vector lanes, each buffer's capacity and port width.
Each such machine runs the trace twice:

* **searched**: the offline scheduler searches again on the bigger machine (what
  ``satsim run --set ...`` does);
* **fixed**: the preset's schedule (issue order, tiles, loop orders, chunks,
  stationarities) runs on the bigger machine.

Markdown on standard output: per resource, how many searched runs are slower than on the
preset and by how much at most, and how many fixed ones are (none expected: the schedule's
tasks only get more of what they wait for). Runs are shared by ``--workers`` processes
(default: every core); with the schedule cache off (as here) it takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import as_completed

from satsim.compare import METHODS, model_traces
from satsim.config import load_dataflow, load_hardware
from satsim.pool import local_pool, worker_count
from satsim.resources import PAPER_MODELS
from satsim.search.evaluate import evaluate
from satsim.types import NMPattern

BUFFERS = {"act": 1024, "wgt": 512, "out": 512, "vec": 256, "msk": 128}  # the preset's
MORE = [("memory.dram.channels", 8), ("memory.dram.gbps_per_channel", 38.4),
        ("memory.dram.latency_ns", 50), ("sore.lanes", 64), ("vector.lanes", 64),
        *((f"memory.buffers.{b}.{k}", 2 * size) for b, size in BUFFERS.items()
          for k in ("kib", "bytes_per_cycle"))]


def one_trace(model: str, method: str) -> tuple[str, str, int, dict[str, tuple[int, int]]]:
    """The preset's cycles, and per doubled resource the searched and fixed cycles."""
    trace = model_traces(model, NMPattern(2, 8), load_hardware("sat"))[method][0]
    policy = load_dataflow("sat")
    base = evaluate(trace, load_hardware("sat"), policy)
    found = {}
    for path, value in MORE:
        hw = load_hardware("sat", [(path, value)])
        found[path] = (evaluate(trace, hw, policy).cycles,
                       evaluate(trace, hw, policy, base.schedule).cycles)
    return model, method, base.cycles, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(PAPER_MODELS),
                        help="comma-separated models (default: the SAT paper's five)")
    parser.add_argument("--workers", type=int, help="processes (default: every core)")
    args = parser.parse_args()
    os.environ["SATSIM_CACHE_DIR"] = "off"  # every search runs, as on a new machine
    jobs = [(m, x) for m in args.models.split(",") for x in ("dense", *METHODS)]
    results = []
    with local_pool(worker_count(args.workers)) as pool:
        futures = [pool.submit(one_trace, *job) for job in jobs]
        for future in as_completed(futures):
            results.append(future.result())
            print(f"{results[-1][0]} {results[-1][1]} done", file=sys.stderr, flush=True)
    print(f"{len(results)} runs on the SAT preset (sat dataflow) against each with one resource "
          "doubled (latency halved): the number slower than on the preset\n")
    print("| resource | searched again: slower | worst | preset's schedule: slower |")
    print("|---|---:|---:|---:|")
    total = fixed_total = 0
    for path, value in MORE:
        slower = [(s / base - 1, model, method) for model, method, base, found in results
                  for s in (found[path][0],) if s > base]
        fixed = sum(found[path][1] > base for _, _, base, found in results)
        total, fixed_total = total + len(slower), fixed_total + fixed
        worst = max(slower, default=None)
        shown = f"+{worst[0]:.2%} ({worst[1]} {worst[2]})" if worst else "-"
        print(f"| {path} = {value} | {len(slower)} | {shown} | {fixed} |")
    print(f"\nsearched again: {total} of {len(results) * len(MORE)} slower; "
          f"preset's schedule: {fixed_total} slower")


if __name__ == "__main__":  # the process pool forks workers
    main()
