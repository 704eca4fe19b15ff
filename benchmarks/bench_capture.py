"""Capture time and peak memory: the shipped captures, and --shapes-only at batch 64.

    python benchmarks/bench_capture.py [--repeat 3] [--models resnet9-cifar,gpt2-small]

Each capture runs ``satsim capture`` in its own process with one thread (as the recipe
``workloads/recipes/capture.sh`` does); wall time and the child's peak RSS come from
``os.wait4``. Prints one Markdown table of medians. Targets (issue "Trace v2"): every shipped
capture <= 30 s and <= 2 GB, every --shapes-only capture at batch 64 <= 5 s.
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

# (model, batch, options) as in workloads/recipes/capture.sh
SHIPPED = [("resnet9-cifar", 32, []), ("vit-tiny", 8, []), ("vgg19-cifar", 32, []),
           ("resnet18-cifar", 32, []), ("resnet50-imagenet", 8, []), ("vgg16-cifar", 32, []),
           ("gpt2-small", 1, ["--model-option", "seq=512"])]
METHODS = ("dense", "srste", "bdwp")


def run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one ``satsim capture`` process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "satsim", "capture", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"satsim capture {' '.join(args)} failed:\n{stderr.decode()}")
    return wall, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per capture (median)")
    parser.add_argument("--models", help="comma-separated subset of the shipped models")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else [m for m, _, _ in SHIPPED]
    print("| capture | median s | peak RSS GB |\n|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "t.jsonl")
        for model, batch, options in SHIPPED:
            if model not in models:
                continue
            shape = " ".join(o for o in options if o != "--model-option")
            cases = [(f"{model} {method} batch {batch} {shape}".rstrip(),
                      [model, "--method", method, *(["--nm", "2:8"] if method != "dense" else []),
                       "--batch", str(batch), *options]) for method in METHODS]
            cases.append((f"{model} bdwp batch 64 --shapes-only",
                          [model, "--method", "bdwp", "--nm", "2:8", "--batch", "64",
                           "--shapes-only"]))
            for label, case in cases:
                runs = [run([*case, "--out", out]) for _ in range(args.repeat)]
                wall = statistics.median(w for w, _ in runs)
                peak = statistics.median(p for _, p in runs)
                print(f"| {label} | {wall:.1f} | {peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()
