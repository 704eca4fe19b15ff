"""Capture time and peak memory: the shipped captures, --shapes-only at batch 64, and the LLMs.

    python benchmarks/bench_capture.py [--repeat 3] [--models resnet9-cifar,gpt2-small,llm]

Each capture runs ``satsim capture`` in its own process with one thread (as the recipe
``workloads/recipes/capture.sh`` does); wall time and the child's peak RSS come from
``os.wait4``. Prints one Markdown table of medians. Targets (issue "Trace v2"): every shipped
capture <= 30 s and <= 2 GB, every --shapes-only capture at batch 64 <= 5 s. ``llm`` (issue
"Sparse LLM training workloads"): llama2-7b --shapes-only at batch 8, 2048 tokens, <= 30 s
and <= 2 GB; a real capture of the tiny LLaMA config <= 15 s; and ``satsim run`` of that
llama2-7b trace on ``sat``, recorded (its target belongs to the offline scheduler's issue).
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
TINY_LLAMA = str(Path(__file__).resolve().parents[1] / "satsim" / "capture" / "models"
                 / "llama_configs" / "llama-tiny.json")


def run(args: list[str], command: str = "capture") -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one ``satsim capture`` (or other) process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "satsim", command, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"satsim {command} {' '.join(args)} failed:\n{stderr.decode()}")
    return wall, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per capture (median)")
    parser.add_argument("--models", help="comma-separated subset of the shipped models")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else [*(m for m, _, _ in SHIPPED), "llm"]
    print("| capture | median s | peak RSS GB |\n|---|---|---|", flush=True)

    def measure(label: str, case: list[str], command: str = "capture",
                repeat: int | None = None) -> None:
        runs = [run(case, command) for _ in range(repeat or args.repeat)]
        wall = statistics.median(w for w, _ in runs)
        peak = statistics.median(p for _, p in runs)
        print(f"| {label} | {wall:.1f} | {peak:.2f} |", flush=True)

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
                measure(label, [*case, "--out", out])
        if "llm" in models:
            for method in METHODS:
                nm = ["--nm", "2:4"] if method != "dense" else []
                measure(f"llama-tiny (real, bf16, AdamW) {method} 2:4 batch 2 seq=128",
                        ["--model-config", TINY_LLAMA, "--method", method, *nm, "--batch",
                         "2", "--model-option", "seq=128", "--out", out])
            big = str(Path(tmp) / "llama2-7b.jsonl")
            measure("llama2-7b bdwp 2:4 batch 8 seq=2048 --shapes-only",
                    ["llama2-7b", "--method", "bdwp", "--nm", "2:4", "--batch", "8",
                     "--model-option", "seq=2048", "--shapes-only", "--out", big])
            # Minutes per run until the offline scheduler's issue: recorded once.
            measure("satsim run --workload llama2-7b bdwp 2:4 batch 8 seq=2048 (sat, 1 run)",
                    ["--workload", big], command="run", repeat=1)


if __name__ == "__main__":
    main()
