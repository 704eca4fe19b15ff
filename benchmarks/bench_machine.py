"""Whole-iteration machine simulation speed: the one-pass clock, and plan + SimPy execute.

    python benchmarks/bench_machine.py [--repeat 5] [--no-simpy] [--dataflow sat]

The SAT preset with its DRAM and buffer system (four DDR4-2400 channels at 80 %, 1 MiB
activations, 512 KiB weights, 512 KiB outputs, 256 KiB vector, 128 KiB SORE buffer), the sat
dataflow, bdwp 2:8, on shape-only captures (needs the torch extra): ResNet-18 CIFAR at batch 32 and
64, ResNet-50 ImageNet at batch 32, GPT-2 small at batch 8 and 512 tokens. The traces are
captured here and written to temporary files; each is then simulated in a fresh process that
imports satsim without torch, after a warm-up run, so that its peak RSS is the simulator's.
Prints the offline scheduler's search (the first run, no disk cache), medians of the
one-pass clock with the schedule cached (``satsim.search.evaluate``) and of building the Program
and executing it with SimPy (the same numbers, tested), the Program's tasks, those timed one
by one, the events SimPy processed, the process's peak RSS after the one-pass runs (the
simulator's own) and after the SimPy ones, and the b64 / b32 time ratio.
Targets (issue "The whole SAT machine"): ResNet-18 b32 <= 0.5 s, ResNet-50 b32 <= 2 s,
GPT-2 b8 s512 <= 2 s, peak memory <= 1 GB, b64 / b32 <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [("resnet18-cifar", 32, {}), ("resnet18-cifar", 64, {}),
         ("resnet50-imagenet", 32, {}), ("gpt2-small", 8, {"seq": 512})]


def peak_rss_gb() -> float:
    """This process's peak resident set (GB). Linux's ``ru_maxrss`` survives ``exec``, so a
    child forked from the capturing parent would report the parent's torch too: read the
    high-water mark of this image instead where there is one."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def child(path: str, repeat: int, simpy: bool, dataflow: str) -> None:
    """Time one trace in this process (no torch) and print a JSON line."""
    from satsim.config import load_dataflow, load_hardware
    from satsim.machine.costs import Machine
    from satsim.search.evaluate import evaluate, plan
    from satsim.timing.engine import execute
    from satsim.trace.io import read_trace

    trace = read_trace(path)
    hw, policy = load_hardware("sat"), load_dataflow(dataflow)
    t0 = time.perf_counter()
    run = evaluate(trace, hw, policy)  # the offline scheduler's search (no disk cache)
    search = time.perf_counter() - t0
    fast, slow, events = [], [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        evaluate(trace, hw, policy)
        fast.append(time.perf_counter() - t0)
    rss_fast = peak_rss_gb()
    if simpy:
        for _ in range(max(1, repeat // 2)):
            t0 = time.perf_counter()
            events = execute(plan(trace, hw, policy).program, Machine.from_hardware(hw)).events
            slow.append(time.perf_counter() - t0)
    print(json.dumps({"fast": statistics.median(fast), "search": search,
                      "simpy": statistics.median(slow) if slow else None,
                      "tasks": run.tasks, "timed": run.timed, "events": events,
                      "rss_fast_gb": rss_fast,
                      "rss_gb": peak_rss_gb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median)")
    parser.add_argument("--no-simpy", action="store_true", help="time the one-pass clock only")
    parser.add_argument("--dataflow", default="sat",
                        help="dataflow preset (default sat: every optimization; the offline "
                             "scheduler's choice is made in the warm-up run and reused)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeat, not args.no_simpy, args.dataflow)
        return
    from satsim.capture.capture import CaptureSpec, capture
    from satsim.trace.io import write_trace
    from satsim.types import NMPattern

    print("| workload | search s | one pass s | plan + SimPy s | tasks | timed | events "
          "| peak RSS GB: one pass | with SimPy |\n|---|---|---|---|---|---|---|---|---|",
          flush=True)
    fast = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model, batch, options in CASES:
            path = Path(tmp) / f"{model}-{batch}.jsonl"
            write_trace(capture(CaptureSpec(model=model, method="bdwp", nm=NMPattern(2, 8),
                                            batch=batch, shapes_only=True, options=options)),
                        path)
            argv = [sys.executable, __file__, "--child", str(path), "--repeat", str(args.repeat),
                    "--dataflow", args.dataflow]
            done = subprocess.run([*argv, *(["--no-simpy"] if args.no_simpy else [])],
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "SATSIM_CACHE_DIR": "off"})
            r = json.loads(done.stdout.strip().splitlines()[-1])
            label = f"{model} b{batch}" + (f" s{options['seq']}" if "seq" in options else "")
            fast[model, batch] = r["fast"]
            simpy = f"{r['simpy']:.2f}" if r["simpy"] is not None else "-"
            with_simpy = f"{r['rss_gb']:.2f}" if r["simpy"] is not None else "-"
            print(f"| {label} | {r['search']:.2f} | {r['fast']:.2f} | {simpy} | {r['tasks']} | "
                  f"{r['timed']} | {r['events'] or '-'} | {r['rss_fast_gb']:.2f} | "
                  f"{with_simpy} |", flush=True)
    ratio = fast["resnet18-cifar", 64] / fast["resnet18-cifar", 32]
    print(f"\nResNet-18 b64 / b32 (one pass): {ratio:.2f}x")


if __name__ == "__main__":
    main()
