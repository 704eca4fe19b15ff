"""Engine wall time: ResNet-50 forward GEMMs (ImageNet, 54 GEMMs), dense, 32x32, ideal memory.

    python benchmarks/bench_engine.py [--repeats 15]

Prints the median (and min/max) wall time of one `simulate` call per workload after a
warm-up run, and the batch-32 / batch-1 ratio (the engine's cost must not grow with M).
Targets: <= 0.5 s at batch 1, <= 1 s at batch 32.
"""

from __future__ import annotations

import argparse
import statistics
import time

from satsim.config import load_dataflow, load_hardware
from satsim.simulate import simulate
from satsim.trace import Method, Trace
from satsim.trace.handlowered import resnet18_cifar, resnet50_imagenet
from satsim.types import Phase


def forward_only(trace: Trace) -> Trace:
    return trace.model_copy(update={"records": tuple(
        r for r in trace.records if getattr(r, "phase", None) is Phase.FF)})


def timed(trace: Trace, hw, policy, repeats: int) -> list[float]:
    simulate(trace, hw, policy)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        simulate(trace, hw, policy)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per workload")
    args = parser.parse_args()
    hw, policy = load_hardware("sat"), load_dataflow("sat")
    cases = {
        "resnet50 FF, batch 1": forward_only(resnet50_imagenet(1, Method.DENSE, None)),
        "resnet50 FF, batch 32": forward_only(resnet50_imagenet(32, Method.DENSE, None)),
        "resnet18-cifar iteration, batch 32, bdwp 2:8": resnet18_cifar(32),
    }
    medians = {}
    print(f"{'workload':<46}{'gemms':>6}{'median s':>11}{'min s':>9}{'max s':>9}")
    for name, trace in cases.items():
        times = timed(trace, hw, policy, args.repeats)
        medians[name] = statistics.median(times)
        print(f"{name:<46}{len(trace.gemms):>6}{medians[name]:>11.4f}{min(times):>9.4f}"
              f"{max(times):>9.4f}")
    b1, b32 = medians["resnet50 FF, batch 1"], medians["resnet50 FF, batch 32"]
    print(f"batch 32 / batch 1 median ratio: {b32 / b1:.2f}")
    print(f"targets: batch 1 <= 0.5 s: {'met' if b1 <= 0.5 else 'MISSED'}; "
          f"batch 32 <= 1 s: {'met' if b32 <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
