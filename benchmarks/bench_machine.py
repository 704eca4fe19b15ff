"""Whole-iteration machine simulation speed: the one-pass clock, and plan + SimPy execute.

    python benchmarks/bench_machine.py [--repeat 5]

The SAT preset with a DRAM and buffer system (four DDR4-2400 channels at 80 %, 1 MiB
activations, 512 KiB weights, 512 KiB outputs, 256 KiB vector buffer), the sat dataflow,
bdwp 2:8, on shape-only captures (needs the torch extra): ResNet-18 CIFAR at batch 32 and
64, ResNet-50 ImageNet at batch 32, GPT-2 small at batch 8 and 512 tokens. One process,
after a warm-up run; prints medians of the one-pass clock (``satsim.timing.fast``), of
building the Program and executing it with SimPy (the same numbers, tested), the Program's
tasks, the events SimPy processed and the process's peak RSS. Targets (issue "The whole SAT
machine"): ResNet-18 b32 <= 0.5 s, ResNet-50 b32 <= 2 s, GPT-2 b8 s512 <= 2 s, peak memory
<= 1 GB, b64 / b32 <= 1.3.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from satsim.capture.capture import CaptureSpec, capture
from satsim.config import load_dataflow, load_hardware
from satsim.schedule.plain import plan
from satsim.timing.fast import evaluate
from satsim.timing.machine import execute
from satsim.timing.units import Machine
from satsim.types import NMPattern

MEMORY = {"dram": {"channels": 4, "gbps_per_channel": 19.2, "efficiency": 0.8, "latency_ns": 100},
          "buffers": {"act": {"kib": 1024, "holds": ["activations"]},
                      "wgt": {"kib": 512, "holds": ["weights"]},
                      "out": {"kib": 512, "holds": ["outputs"]},
                      "vec": {"kib": 256, "holds": ["vector"]}}}
CASES = [("resnet18-cifar", 32, {}), ("resnet18-cifar", 64, {}),
         ("resnet50-imagenet", 32, {}), ("gpt2-small", 8, {"seq": 512})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median)")
    args = parser.parse_args()
    hw, policy = load_hardware("sat", [("memory", MEMORY)]), load_dataflow("sat")
    machine = Machine.from_hardware(hw)
    print("| workload | one pass s | plan s | SimPy s | tasks | events |\n"
          "|---|---|---|---|---|---|")
    for model, batch, options in CASES:
        trace = capture(CaptureSpec(model=model, method="bdwp", nm=NMPattern(2, 8),
                                    batch=batch, shapes_only=True, options=options))
        evaluate(trace, hw, policy)  # warm-up
        fast, plans, runs = [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            evaluate(trace, hw, policy)
            t1 = time.perf_counter()
            p = plan(trace, hw, policy)
            t2 = time.perf_counter()
            timeline = execute(p.program, machine)
            t3 = time.perf_counter()
            fast.append(t1 - t0)
            plans.append(t2 - t1)
            runs.append(t3 - t2)
        label = f"{model} b{batch}" + (f" s{options['seq']}" if "seq" in options else "")
        print(f"| {label} | {statistics.median(fast):.2f} | {statistics.median(plans):.2f} | "
              f"{statistics.median(runs):.2f} | {len(p.program.tasks)} | {timeline.events} |",
              flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(f"\npeak RSS of this process (torch and the captures included): {peak:.2f} GB")


if __name__ == "__main__":
    main()
