"""Every shipped capture on the whole SAT machine: the tables of the machine issue's closing note.

    python benchmarks/machine_table.py [--hw sat] [--dataflow sat] [--set KEY=VALUE ...]

For the SAT paper's five models and GPT-2, dense / srste 2:8 / bdwp 2:8 captures, under the
plain schedule: the iteration with and without the memory system, the speedup over the dense
twin (which equals the dense capture: re-annotation rebuilds the graph as the capture does),
DRAM traffic, each unit's share of the iteration, busy cycles per phase, and the stalls by
cause. Markdown on standard output.
"""

from __future__ import annotations

import argparse

from satsim.api import run

MODELS = ["resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar", "resnet50-imagenet",
          "gpt2-small"]
METHODS = ["dense", "srste", "bdwp"]
PHASES = ["FF", "BP", "WG", "MASK", "VEC", "WU"]
STALLS = ["stall_dram", "stall_mask", "stall_dep", "stall_buffer", "stall_unit"]


def _m(cycles: int | None) -> str:
    return "-" if cycles is None else f"{cycles / 1e6:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hw", default="sat")
    parser.add_argument("--dataflow", default="sat")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    reports = {(model, method): run(f"{model}-{method}", args.hw, args.dataflow,
                                    overrides=args.overrides)
               for model in MODELS for method in METHODS}

    print("Iteration (Mcycles; speedup over the dense twin; DRAM in MB; unit busy share)\n")
    print("| model | method | cycles | compute only | memory adds | speedup | MAC ideal "
          "| DRAM read | DRAM write | STCE | SORE | vector | DRAM |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (model, method), rep in reports.items():
        res, m = rep.result, rep.metrics()
        units = " | ".join(f"{res.unit_utilization(u):.1%}" if u in res.busy else "-"
                           for u in ("stce", "sore", "vector", "dram"))
        speedup = f"{m['speedup']:.2f}x" if m["speedup"] else "-"
        ideal = f"{m['ideal_mac_speedup']:.2f}x" if m["ideal_mac_speedup"] else "-"
        print(f"| {model} | {method} | {_m(res.cycles)} | {_m(m['compute_only_cycles'])} "
              f"| {res.cycles / m['compute_only_cycles'] - 1:.1%} | {speedup} | {ideal} "
              f"| {m['dram_read_bytes'] / 1e6:,.0f} | {m['dram_write_bytes'] / 1e6:,.0f} "
              f"| {units} |")

    print("\nBusy cycles per phase (Mcycles; FF/BP/WG on the STCE, MASK on the SORE, "
          "VEC and WU on the vector unit)\n")
    print("| model | method | " + " | ".join(PHASES) + " |")
    print("|---|---|" + "---:|" * len(PHASES))
    for (model, method), rep in reports.items():
        busy = {t.phase: t.busy_cycles for t in rep.result.phase_totals()}
        print(f"| {model} | {method} | "
              + " | ".join(_m(busy.get(p)) for p in PHASES) + " |")

    print("\nStalls (Mcycles a unit idled, by what it waited for; buffer: held by its task "
          "waiting on bank ports) and queueing (Mcycles records were ready while their unit "
          "worked on earlier ones, summed over records)\n")
    print("| model | method | DRAM | mask | dependency | buffer | queued |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (model, method), rep in reports.items():
        print(f"| {model} | {method} | "
              + " | ".join(_m(rep.result.total(s)) for s in STALLS) + " |")


if __name__ == "__main__":
    main()
