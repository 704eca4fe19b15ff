"""How the mean BDWP speedup depends on the SAT preset's assumed parameters.

    python benchmarks/sensitivity.py [--models A,B,...] [--params P,Q,...] [--hw sat]
                                     [--dataflow sat] [--nm 2:8]

The sensitivity table of the assumptions issue: for each parameter the SAT paper does not
give (``docs/assumptions.md``), a physically plausible low and high end, and the mean speedup
of BDWP over dense training (``satsim compare``: the paper's five models, their shipped
captures, on the same machine and dataflow) with the preset changed at that end only, every
other value as the preset has it. The preset's own mean is printed once above the table.
Markdown on standard output; progress on standard error.

The parameters and their ranges (each end argued in :data:`PARAMS`):

* ``array``: STCE rows x cols together, 16x16 to 64x64;
* ``clock``: 150 to 300 MHz (it moves DRAM bytes and latency per cycle, not the units);
* ``dram_efficiency``: 0.7 to 0.9 of the DRAM's peak;
* ``dram_channels``: 1 to 4 DDR4-2400 channels;
* ``dram_latency``: 80 to 150 ns;
* ``buffer_kib``: every buffer's capacity x0.5 to x2 (ports unchanged);
* ``bank_width``: every bank port's bytes per cycle x0.5 to x2 (capacities unchanged);
* ``sore_lanes``: 16 to 64;
* ``vector_lanes``: 16 to 64;
* ``vector_costs``: the vector unit's cycles per element, every op one pass (1) to x2;
* ``update_costs``: the update's cycles per parameter, one (fused) to x2;
* ``strided_bp``: ``decompose`` (preset) or ``zero_insert``.

A parameter the hardware cannot take (the memory ones on an ``ideal``-memory preset, the
lanes of a unit the preset leaves untimed) is reported as ``n/a``. Runs whose hardware is the
same (an end equal to the preset) are simulated once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from satsim.compare import PAPER_MEAN, Comparison, compare
from satsim.config import HardwareConfig, load_hardware, split_overrides
from satsim.resources import PAPER_MODELS

End = tuple[str, tuple[str, ...]]  # (what the end is, as shown; its --set overrides)


@dataclass(frozen=True)
class Param:
    """One assumed parameter: how the preset sets it and the two ends tried.

    Attributes
    ----------
    label : str
        The table's name for it (with the config field).
    preset : callable
        The hardware -> the preset's value, as shown.
    ends : callable
        The hardware -> ``(low, high)`` ends, each ``(shown value, overrides)``; ``None``
        when the hardware has no such parameter.
    """

    label: str
    preset: Callable[[HardwareConfig], str]
    ends: Callable[[HardwareConfig], tuple[End, End] | None]


def _memory(hw: HardwareConfig):
    return None if hw.memory == "ideal" else hw.memory


def _set(key: str, values: tuple, show: Callable[[object], str] = str):
    """Ends that set one field to each of ``values``."""
    return lambda hw: tuple((show(v), (f"{key}={v}",)) for v in values)


def _dram(field: str, values: tuple, show: Callable[[object], str] = str):
    def ends(hw):
        return None if _memory(hw) is None else _set(f"memory.dram.{field}", values, show)(hw)
    return ends


def _buffers(field: str, factors: tuple[float, float]):
    """Every buffer's ``field`` scaled by each factor (at least 1)."""
    def ends(hw):
        memory = _memory(hw)
        if memory is None:
            return None
        return tuple((f"x{f:g}", tuple(
            f"memory.buffers.{name}.{field}={max(1, round(getattr(b, field) * f))}"
            for name, b in memory.buffers.items())) for f in factors)
    return ends


def _buffer_values(field: str):
    def preset(hw):
        memory = _memory(hw)
        if memory is None:
            return "ideal memory"
        return ", ".join(f"{name} {getattr(b, field)}" for name, b in memory.buffers.items())
    return preset


def _lanes(unit: str, values: tuple[int, int]):
    def ends(hw):
        return None if unit not in hw.units else _set(f"{unit}.lanes", values)(hw)
    return ends


def _costs(table: str, high: int):
    """The vector unit's ``table`` of costs: every entry 1, and every entry x ``high``."""
    def ends(hw):
        if hw.vector is None:
            return None
        costs = getattr(hw.vector, table)
        return (("all 1", tuple(f"vector.{table}.{op}=1" for op in costs)),
                (f"x{high}", tuple(f"vector.{table}.{op}={c * high}" for op, c in costs.items())))
    return ends


def _cost_values(table: str):
    def preset(hw):
        if hw.vector is None:
            return "not timed"
        costs = getattr(hw.vector, table)
        if table == "update_cycles_per_parameter":
            return ", ".join(f"{op} {c}" for op, c in costs.items())
        return ", ".join(map(str, sorted(set(costs.values())))) + " (by op)"
    return preset


PARAMS: dict[str, Param] = {
    # 16x16: a quarter of the MACs, what a design sharing the FPGA (or one PE per DSP pair)
    # would fit. 64x64: 4,096 fp16 MACs, about what the xcvu9p's ~5,800 kernel DSPs hold
    # at one DSP per MAC beside the SORE and the WUVE; beyond it the device runs out.
    "array": Param("STCE rows x cols (`array`)",
                   lambda hw: f"{hw.engine.rows}x{hw.engine.cols}",
                   lambda hw: tuple((f"{n}x{n}", (f"array.rows={n}", f"array.cols={n}"))
                                    for n in (16, 64))),
    # 150-300 MHz is the usual range of a large systolic array on Virtex UltraScale+ with a
    # shell (docs/assumptions.md). In cycles, the clock changes only DRAM bytes per cycle
    # and latency cycles.
    "clock": Param("clock, MHz (`clock_mhz`)", lambda hw: f"{hw.clock_mhz:g}",
                   _set("clock_mhz", (150, 300))),
    # Streaming DDR4 keeps 70-90 % of its peak after refresh, bank and turnaround overheads.
    "dram_efficiency": Param("DRAM efficiency (`memory.dram.efficiency`)",
                             lambda hw: f"{hw.memory.dram.efficiency:g}" if _memory(hw) else
                             "ideal memory", _dram("efficiency", (0.7, 0.9))),
    # The VCU1525 has four DDR4-2400 channels: a design may wire up as few as one memory
    # controller (the simplest HLS shells do) and at most all four.
    "dram_channels": Param("DRAM channels (`memory.dram.channels`)",
                           lambda hw: str(hw.memory.dram.channels) if _memory(hw) else
                           "ideal memory", _dram("channels", (1, 4))),
    # DDR4 behind an FPGA memory controller: 80-150 ns from request to first data.
    "dram_latency": Param("DRAM latency, ns (`memory.dram.latency_ns`)",
                          lambda hw: f"{hw.memory.dram.latency_ns:g}" if _memory(hw) else
                          "ideal memory", _dram("latency_ns", (80, 150))),
    # Half (1.2 MiB) to twice (4.75 MiB) the preset's 2.4 MiB: "a few MiB" of the
    # xcvu9p's ~7 MiB of kernel BRAM and ~28 MiB of URAM, all buffers alike. Port
    # widths stay (bank_width varies them), so this is capacity alone: tile sizes.
    "buffer_kib": Param("buffer capacities, KiB (`memory.buffers.*.kib`)",
                        _buffer_values("kib"), _buffers("kib", (0.5, 2))),
    # The preset's 2 bytes per cycle per KiB of bank (BRAM36 blocks side by side, 72-bit
    # ports). Half: banks built half of URAM (72-bit ports on 4x the capacity) or BRAM at
    # 36 bits; twice: each bank spread over twice the blocks (each half full), as a design
    # wanting wider ports than its capacity needs would build it. Capacities stay.
    "bank_width": Param("bank port width, B/cycle (`memory.buffers.*.bytes_per_cycle`)",
                        _buffer_values("bytes_per_cycle"), _buffers("bytes_per_cycle", (0.5, 2))),
    # The paper gives 32 lanes; what it does not give is a lane's rate (one weight per
    # cycle assumed). Half to twice the rate is 16 to 64 lanes at one weight per cycle.
    "sore_lanes": Param("SORE lanes (`sore.lanes`)",
                        lambda hw: str(hw.maskgen.lanes) if hw.maskgen else "not timed",
                        _lanes("sore", (16, 64))),
    # Assumed equal to the SORE's 32; half to twice that width.
    "vector_lanes": Param("vector lanes (`vector.lanes`)",
                          lambda hw: str(hw.vector.lanes) if hw.vector else "not timed",
                          _lanes("vector", (16, 64))),
    # Low: every op in one pass over its data (multi-pass ops fused into one pipeline);
    # high: every op twice the preset's cycles (a lane pipeline that accepts an element
    # every other cycle, or more passes than assumed).
    "vector_costs": Param("vector op costs, cycles/element (`vector.cycles_per_element`)",
                          _cost_values("cycles_per_element"),
                          _costs("cycles_per_element", 2)),
    # Low: momentum and weight updated in one fused pass, the recast folded into it too;
    # high: twice the preset's cycles per parameter.
    "update_costs": Param("update costs, cycles/parameter "
                          "(`vector.update_cycles_per_parameter`)",
                          _cost_values("update_cycles_per_parameter"),
                          _costs("update_cycles_per_parameter", 2)),
    # A design choice rather than a number: the two data-gradient datapaths of a strided
    # conv (docs/assumptions.md). decompose is the preset; zero_insert is a plain
    # implicit-GEMM datapath multiplying the inserted zeros.
    "strided_bp": Param("strided conv BP (`conv.strided_bp`)",
                        lambda hw: hw.conv.strided_bp,
                        _set("conv.strided_bp", ("decompose", "zero_insert"))),
}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the table (see the module) and print it as markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(PAPER_MODELS),
                        help="comma-separated models (default: the SAT paper's five)")
    parser.add_argument("--params", default=",".join(PARAMS),
                        help=f"comma-separated parameters (default: all of {', '.join(PARAMS)})")
    parser.add_argument("--hw", default="sat", help="hardware preset or YAML (default sat)")
    parser.add_argument("--dataflow", default="sat",
                        help="dataflow preset or YAML (default sat)")
    parser.add_argument("--nm", default="2:8", help="N:M of the sparse runs (default 2:8)")
    args = parser.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    names = [p for p in args.params.split(",") if p]
    unknown = [p for p in names if p not in PARAMS]
    if unknown:
        parser.error(f"unknown parameters {', '.join(unknown)} (known: {', '.join(PARAMS)})")
    hw = load_hardware(args.hw)
    runs: dict[str, Comparison] = {}  # by the hardware run: an end equal to the preset runs once

    def mean(overrides: tuple[str, ...], what: str) -> float:
        key = load_hardware(args.hw, split_overrides(overrides)[0]).model_dump_json()
        if key not in runs:
            _say(f"{what}:")
            runs[key] = compare(models, args.nm, args.hw, args.dataflow, overrides,
                                workers=None, progress=lambda run: _say(f"  {run}"))
        return runs[key].mean("bdwp")

    preset = mean((), "preset")
    paper = next(iter(runs.values())).paper_setting
    rows = []
    for name in names:
        param = PARAMS[name]
        ends = param.ends(hw)
        if ends is None:
            rows.append((param.label, param.preset(hw), "n/a", "n/a", "n/a"))
            continue
        (low, low_set), (high, high_set) = ends
        rows.append((param.label, param.preset(hw), f"{low} .. {high}",
                     f"{mean(low_set, f'{name} = {low}'):.3f}x",
                     f"{mean(high_set, f'{name} = {high}'):.3f}x"))
    print(f"Mean BDWP {args.nm} speedup over dense training ({', '.join(models)}; hardware "
          f"{args.hw}, dataflow {args.dataflow}), one parameter changed at a time.\n")
    print(f"Preset: {preset:.3f}x" + (f" (SAT paper: {PAPER_MEAN}x)" if paper else "") + "\n")
    print("| parameter | preset value | range tried | mean bdwp speedup at low end "
          "| at high end |")
    print("|---|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
