"""Whole-process wall time of the `satsim` command, as a user feels it.

    python benchmarks/bench_startup.py [--repeats 11]

Runs `satsim --help`, `satsim list` and `satsim run` (the default workload) as fresh
processes and prints the median, min and max of each. Targets: --help and list <= 0.15 s
(they must not import pandas, numpy or the config models), run <= 0.6 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGETS = {"--help": 0.15, "list": 0.15, "run": 0.6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    exe = shutil.which("satsim")
    base = [exe] if exe else [sys.executable, "-m", "satsim"]
    for command, target in TARGETS.items():
        subprocess.run([*base, command], capture_output=True, check=True)  # warm caches
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([*base, command], capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        verdict = "ok" if median <= target else "OVER"
        print(f"satsim {command:<7} median {median:.3f} s  (min {min(times):.3f}, "
              f"max {max(times):.3f}; target <= {target} s: {verdict})")


if __name__ == "__main__":
    main()
