"""SAT's dataflow optimizations one by one: the ablation table of the optimizations issue.

    python benchmarks/ablation.py [--hw sat] [--nm 2:8] [--models A,B,...]

For every shipped model (its dense, srste and bdwp captures), the iteration's cycles under
the naive dataflow (every optimization off), each optimization alone, and all of them
(the sat dataflow), with each setting's bdwp speedup over dense on the same setting.
Markdown on standard output; a line on standard error per model.

The switches: ``interleave`` (interleave mapping: folds overlap in the array, and a GEMM
and a vector/SORE op run side by side, their transfers interleaved on the DMA),
``offline_schedule`` (the fastest of the candidate issue orders, and OS or WS per op) and
``pregenerate`` (the SORE runs ahead on a lane and buffer of its own). Each switch is
measured alone against none, and within all of them (all against all but it).
"""

from __future__ import annotations

import argparse
import sys

from satsim.compare import METHODS, model_traces
from satsim.config import load_dataflow, load_hardware
from satsim.simulate import simulate
from satsim.types import NMPattern

MODELS = ["resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar", "resnet50-imagenet",
          "gpt2-small"]
SWITCHES = ("interleave", "pregenerate", "offline_schedule")
SETTINGS = {"none": (), **{s: (s,) for s in SWITCHES}, "all (sat)": SWITCHES,
            **{f"all but {s}": tuple(x for x in SWITCHES if x != s) for s in SWITCHES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hw", default="sat", help="hardware preset or YAML (default sat)")
    parser.add_argument("--nm", default="2:8", help="N:M of the sparse captures (default 2:8)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models")
    args = parser.parse_args()
    hw = load_hardware(args.hw)
    naive, sat = load_dataflow("naive"), load_dataflow("sat")
    pattern = NMPattern.parse(args.nm)
    table = {}
    for model in args.models.split(","):
        print(f"{model} ...", file=sys.stderr, flush=True)
        traces = model_traces(model, pattern, hw)
        for setting, on in SETTINGS.items():
            # The offline scheduler also picks each op's stationarity (sat: auto).
            policy = naive.model_copy(update={
                **{s: s in on for s in SWITCHES},
                "stationarity": sat.stationarity if "offline_schedule" in on
                else naive.stationarity})
            table[model, setting] = {m: simulate(traces[m][0], hw, policy).cycles
                                     for m in ("dense", *METHODS)}
    print(f"Cycles (M) per setting, dense / srste / bdwp, and the bdwp speedup over dense "
          f"({args.hw}, {pattern}; none: dataflows/naive.yaml, all: dataflows/sat.yaml; "
          "offline scheduling includes the choice of OS or WS per op)\n")
    shown = [s for s in SETTINGS if not s.startswith("all but")]
    print("| model | " + " | ".join(shown) + " |")
    print("|---|" + "---|" * len(shown))
    for model in args.models.split(","):
        cells = []
        for setting in shown:
            c = table[model, setting]
            cells.append(f"{c['dense'] / 1e6:.2f} / {c['srste'] / 1e6:.2f} / "
                         f"{c['bdwp'] / 1e6:.2f} ({c['dense'] / c['bdwp']:.2f}x)")
        print(f"| {model} | " + " | ".join(cells) + " |")
    models = args.models.split(",")
    _effects("Each switch alone against none, per method: cycles saved (%); negative: slower",
             models, lambda m, method, s: 1 - table[m, s][method] / table[m, "none"][method])
    _effects("Each switch within all of them, per method: cycles all but it / all - 1 (%); "
             "negative: slower with it", models,
             lambda m, method, s: table[m, f"all but {s}"][method]
             / table[m, "all (sat)"][method] - 1)


def _effects(title: str, models: list[str], saved) -> None:
    """A table of ``saved(model, method, switch)`` in percent, a row per model and method."""
    print(f"\n{title}\n")
    print("| model | method | " + " | ".join(SWITCHES) + " |")
    print("|---|---|" + "---:|" * len(SWITCHES))
    for model in models:
        for method in ("dense", *METHODS):
            print(f"| {model} | {method} | " + " | ".join(
                f"{100 * saved(model, method, s):.1f}" for s in SWITCHES) + " |")

if __name__ == "__main__":
    main()
