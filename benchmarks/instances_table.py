"""A MAC engine of two instances against one: `sat-x2` beside `sat` on the SAT paper's models.

    python benchmarks/instances_table.py [--method bdwp] [--dataflow sat] [--models ...]

For each model (its capture as recorded: BDWP 2:8 by default) under the hardware's default
dataflow: the iteration's cycles on `sat` and on `sat-x2`, and the GEMM phases' time (the
sum over the FF, BP and WG records of their spans, end - start: what the arrays take, stalls
included), with the memory system and on ideal memory. Markdown on standard output; the
last columns say whether `sat-x2` is never slower, its GEMM phases at least 1.5x faster, and
at least 1.9x on ideal memory. Exit status 1 if any does not hold.
"""

from __future__ import annotations

import argparse
import sys

from satsim.api import run

MODELS = ["resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar", "resnet50-imagenet"]
GEMM_PHASES = ("FF", "BP", "WG")


def gemm_span(report) -> int:
    """Cycles of the GEMM records, each from its start to its end."""
    return sum(r["end"] - r["start"] for r in report.result.rows if r["phase"] in GEMM_PHASES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="bdwp", help="which capture: bdwp, srste, dense")
    parser.add_argument("--dataflow", default=None, help="default: each preset's own (sat)")
    parser.add_argument("--models", nargs="+", default=MODELS)
    args = parser.parse_args()
    print("| model | sat Mcycles | sat-x2 Mcycles | iteration | GEMM phases | "
          "GEMM phases, ideal memory | never slower | GEMM >= 1.5x | ideal >= 1.9x |")
    print("|---|---:|---:|---:|---:|---:|---|---|---|")
    ok = True
    for model in args.models:
        workload = f"{model}-{args.method}"
        one, two = (run(workload, hw, args.dataflow, baseline=False) for hw in ("sat", "sat-x2"))
        one_i, two_i = (run(workload, hw, args.dataflow, baseline=False,
                            overrides=["memory=ideal"]) for hw in ("sat", "sat-x2"))
        iteration = one.result.cycles / two.result.cycles
        gemm = gemm_span(one) / gemm_span(two)
        ideal = gemm_span(one_i) / gemm_span(two_i)
        holds = (iteration >= 1, gemm >= 1.5, ideal >= 1.9)
        ok &= all(holds)
        print(f"| {model} | {one.result.cycles / 1e6:.2f} | {two.result.cycles / 1e6:.2f} "
              f"| {iteration:.2f}x | {gemm:.2f}x | {ideal:.2f}x | "
              + " | ".join("yes" if h else "**no**" for h in holds) + " |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
