"""`satsim run --timeline` at the one-pass clock's speed, against the SimPy path it replaced.

    python benchmarks/bench_timeline.py [--repeat 3] [--workload FILE] [--skip-old]

Without ``--workload`` it captures ResNet-50 at batch 32 (``satsim capture resnet50-imagenet
--method bdwp --nm 2:8 --batch 32 --shapes-only``) into a temporary folder. Each run is a
fresh process with one thread, on a warm schedule cache (one plain run first); CPU seconds
(user + system), wall seconds and the child's peak RSS come from ``os.wait4``. Two paths:

* ``clock``: ``satsim run --timeline FILE``, the document made from the one-pass clock's
  records (:mod:`satsim.report.trace_events`);
* ``simpy``: what ``satsim run --timeline`` did before: the same run, then the Program built
  (:func:`satsim.search.evaluate.plan`), executed by the SimPy engine and turned into the
  document by :func:`satsim.report.timeline.chrome_trace`, dumped with ``json``;

and, for scale, ``run`` without a timeline. Prints a Markdown table of medians. Target
(issue "The offline scheduler", point 5): ResNet-50 b32 ``--timeline`` <= 10 s and <= 1 GB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The path `satsim run --timeline FILE` took before (main 1e4f03c), in today's functions.
SIMPY_PATH = """
import json, sys
from satsim.api import _inputs, run
from satsim.machine.costs import Machine
from satsim.report.timeline import chrome_trace
from satsim.search.evaluate import plan
from satsim.timing.engine import execute

workload, out = sys.argv[1:]
report = run(workload)
hw, policy, _, _, trace = _inputs(workload, "sat", None, None, None, ())
program, machine = plan(trace, hw, policy), Machine.from_hardware(hw)
doc = chrome_trace(program, execute(program.program, machine), machine, hw.clock_mhz,
                   trace.name)
assert doc["otherData"]["cycles"] == report.result.cycles
with open(out, "w") as handle:
    handle.write(json.dumps(doc, separators=(",", ":")))
print(report.text())
"""


def measure(command: list[str]) -> tuple[float, float, float]:
    """CPU seconds, wall seconds and peak RSS (GB) of one process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{stderr.decode()}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss * 1024 / 1e9  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per path (median)")
    parser.add_argument("--workload", help="a trace file (default: ResNet-50 b32, captured)")
    parser.add_argument("--skip-old", action="store_true", help="leave out the SimPy path")
    args = parser.parse_args()
    satsim = [sys.executable, "-m", "satsim"]
    with tempfile.TemporaryDirectory() as tmp:
        workload = args.workload
        if workload is None:
            workload = str(Path(tmp) / "r50b32.jsonl")
            measure([*satsim, "capture", "resnet50-imagenet", "--method", "bdwp", "--nm",
                     "2:8", "--batch", "32", "--shapes-only", "--out", workload])
        out = str(Path(tmp) / "timeline.json")
        paths = {"run (no timeline)": [*satsim, "run", "--workload", workload],
                 "clock: run --timeline": [*satsim, "run", "--workload", workload,
                                           "--timeline", out]}
        if not args.skip_old:
            paths["simpy: run, then plan + execute + chrome_trace"] = [
                sys.executable, "-c", SIMPY_PATH, workload, out]
        measure(paths["run (no timeline)"])  # the schedule cache, warm for all
        print(f"workload {workload}, {args.repeat} runs each\n")
        print("| path | CPU s | wall s | peak RSS GB | file MB |\n|---|---|---|---|---|")
        for label, command in paths.items():
            Path(out).unlink(missing_ok=True)
            runs = [measure(command) for _ in range(args.repeat)]
            size = Path(out).stat().st_size / 1e6 if Path(out).exists() else 0.0
            cpu, wall, peak = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {label} | {cpu:.1f} | {wall:.1f} | {peak:.2f} | {size:.0f} |", flush=True)


if __name__ == "__main__":
    main()
