"""The ``satsim`` command: parses arguments, calls the API, prints. Nothing else."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from satsim import __version__
from satsim.config import load_dataflow, load_hardware, parse_overrides
from satsim.errors import SatsimError
from satsim.report.result import RunResult
from satsim.resources import shipped
from satsim.simulate import simulate
from satsim.trace.workload import (
    DEFAULT_WORKLOAD,
    Method,
    annotate,
    load_workload,
    trace_method,
    trace_pattern,
)
from satsim.types import NMPattern

_RUN_HELP = """\
Simulate one training iteration of a workload on a hardware preset under a dataflow policy
and print cycles, time at the clock, utilization and the speedup over dense training.

With no arguments: one iteration (FF, BP and WG) of ResNet-18 on CIFAR-sized inputs, as
BDWP 2:8 sparse training, on the SAT preset (32x32 array, 200 MHz) with SAT's dataflow.
"""

_EPILOG = """\
examples:
  satsim run
  satsim run --method srste --sparsity 2:4
  satsim run --hw my_accel.yaml --dataflow naive --set array.rows=16 --json out.json
  satsim run --workload layers.csv          (SCALE-Sim topology or name,M,K,N CSV)
  satsim list
"""


_CAPTURE_HELP = """\
Train a zoo model for a few real optimizer steps with an N:M training method and record the
last step's GEMMs (FF, BP, WG), vector work, weight updates and mask generation as a trace.
The N:M structure of each weight operand is measured, not assumed. Needs the torch extra.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem as one ``error:`` line and exits 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="satsim", description="Cycle-level simulator of N:M sparse DNN "
                     "training accelerators.", epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"satsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="simulate a workload", description=_RUN_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--hw", default="sat", metavar="NAME|FILE",
                     help="hardware preset or YAML file (default: sat)")
    run.add_argument("--dataflow", default="sat", metavar="NAME|FILE",
                     help="dataflow preset or YAML file (default: sat)")
    run.add_argument("--workload", default=DEFAULT_WORKLOAD, metavar="NAME|FILE",
                     help=f"shipped workload, trace (.jsonl) or CSV (default: {DEFAULT_WORKLOAD})")
    run.add_argument("--sparsity", metavar="dense|N:M",
                     help="re-annotate prunable weights with this N:M (default: as in the trace)")
    run.add_argument("--method", choices=[m.value for m in Method],
                     help="which phases are sparse: bdwp = FF and BP, srste = FF, dense = none "
                          "(default: as in the trace; bdwp if only --sparsity N:M is given)")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE",
                     help="override a config field, e.g. array.rows=16 (hardware) or "
                          "dataflow.interleave=false; repeatable")
    run.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")

    lst = sub.add_parser("list", help="list shipped presets, dataflows, workloads and models")
    lst.add_argument("what", nargs="?", choices=["configs", "dataflows", "workloads", "models"],
                     help="only this kind (models need the torch extra)")

    cap = sub.add_parser("capture", help="capture a training iteration of a zoo model (torch)",
                         description=_CAPTURE_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cap.add_argument("model", help="zoo model (see 'satsim list models')")
    cap.add_argument("--method", required=True, choices=[m.value for m in Method],
                     help="N:M training method")
    cap.add_argument("--nm", default="2:8", metavar="N:M",
                     help="N:M pattern for bdwp/srste (default 2:8; ignored for dense)")
    cap.add_argument("--batch", type=int, required=True, help="batch size")
    cap.add_argument("--steps", type=int, default=2,
                     help="optimizer steps to run; the last one is traced (default 2)")
    cap.add_argument("--data", choices=["digits", "synthetic"],
                     help="training data (default: digits for 32x32 10-class models, else "
                          "synthetic)")
    cap.add_argument("--shapes-only", action="store_true",
                     help="no compute (FakeTensorMode): fast, N:M taken from the configuration")
    cap.add_argument("--dump-tensors", metavar="LAYER[,LAYER]", default="",
                     help="save these layers' FF/BP/WG operands, results and masks to "
                          "OUT.npz")
    cap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cap.add_argument("--model-option", dest="model_options", action="append", default=[],
                     metavar="KEY=VALUE", help="model builder option, e.g. width=8 (tiny "
                     "variants); repeatable")
    cap.add_argument("--out", type=Path, required=True, metavar="FILE",
                     help="trace file to write (.jsonl)")
    return parser


def _split_overrides(items: list[str]):
    hardware, dataflow = [], []
    for key, value in parse_overrides(items):
        if key.startswith("dataflow."):
            dataflow.append((key.removeprefix("dataflow."), value))
        else:
            hardware.append((key.removeprefix("hw."), value))
    return hardware, dataflow


def _reannotate(trace, method: str | None, sparsity: str | None, max_m: int):
    """Apply ``--method`` / ``--sparsity`` to the trace (unchanged when neither is given)."""
    if method is None and sparsity is None:
        return trace
    try:
        pattern = NMPattern.parse(sparsity) if sparsity is not None else trace_pattern(trace)
    except ValueError as exc:
        raise SatsimError(str(exc), source="--sparsity") from None
    if method is None:
        chosen = Method.DENSE if pattern is None else Method.BDWP
    else:
        chosen = Method(method)
    if chosen is not Method.DENSE:
        if pattern is None:
            if sparsity is not None:
                raise SatsimError(f"--method {chosen} needs an N:M pattern, not dense",
                                  source="--sparsity")
            pattern = NMPattern(2, 8)  # SAT's headline setting
        if pattern.m > max_m:
            raise SatsimError(f"{pattern} needs M <= max_m = {max_m} of the hardware",
                              source="--sparsity")
    return annotate(trace, chosen, pattern if chosen is not Method.DENSE else None)


def _table(result: RunResult, dense: RunResult | None, rows: int, cols: int) -> str:
    lines = [
        f"workload   {result.workload}  ({result.method}, {result.sparsity})",
        f"hardware   {result.hardware}  ({rows}x{cols} PEs @ {result.clock_mhz:g} MHz)",
        f"dataflow   {result.dataflow}",
        "",
        f"{'phase':<7}{'ops':>5}{'cycles':>15}{'time (ms)':>12}{'utilization':>13}",
    ]
    for row in result.by_phase().itertuples():
        lines.append(f"{row.Index:<7}{row.ops:>5}{row.cycles:>15,}{row.time_ms:>12.3f}"
                     f"{row.utilization:>12.1%}")
    lines.append(f"{'total':<7}{len(result.ops):>5}{result.cycles:>15,}"
                 f"{result.seconds * 1e3:>12.3f}{result.utilization:>12.1%}")
    lines.append("")
    if dense is None:
        lines.append("dense run: no sparse weights (try --method bdwp --sparsity 2:8)")
    else:
        pattern = NMPattern.parse(result.sparsity)
        uniform = 3 / (1 + 2 * pattern.density) if pattern else 1.0
        # Every op at its dense cycles scaled by its executed/dense MAC ratio.
        scaled = (dense.ops["cycles"] * result.ops["macs"] / result.ops["dense_macs"]).sum()
        lines.append(f"dense training on the same hardware: {dense.cycles:,} cycles "
                     f"({dense.seconds * 1e3:.3f} ms, {dense.utilization:.1%} utilization)")
        lines.append(f"speedup over dense: {dense.cycles / result.cycles:.2f}x")
        lines.append(f"  MAC-proportional ideal for this trace: {dense.cycles / scaled:.2f}x; "
                     f"3/(1+2N/M) = {uniform:.2f}x (if FF, BP and WG cost alike)")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    hw_overrides, df_overrides = _split_overrides(args.overrides)
    hw = load_hardware(args.hw, hw_overrides)
    policy = load_dataflow(args.dataflow, df_overrides)
    trace = _reannotate(load_workload(args.workload), args.method, args.sparsity,
                        hw.sparsity.max_m)
    if args.json is not None and not args.json.parent.is_dir():
        raise SatsimError("folder does not exist", source=args.json)
    result = simulate(trace, hw, policy)
    dense = None
    if trace_pattern(trace) is not None:
        dense = simulate(annotate(trace, Method.DENSE, None), hw, policy)
    if args.json is not None:
        result.write_json(args.json)
    print(_table(result, dense, hw.array.rows, hw.array.cols))
    if trace_method(trace) == "custom":
        print("note: the trace's sparse phases match no known method")
    return 0


def _capture(args: argparse.Namespace) -> int:
    try:
        from satsim.capture.capture import CaptureSpec, capture
    except ImportError as exc:
        raise SatsimError(f"needs the torch extra ({exc.name} is missing): "
                          "pip install 'satsim[torch]'", source="satsim capture") from None
    from satsim.trace import write_trace

    try:
        nm = None if args.method == "dense" else NMPattern.parse(args.nm)
    except ValueError as exc:
        raise SatsimError(str(exc), source="--nm") from None
    if args.method != "dense" and nm is None:
        raise SatsimError(f"--method {args.method} needs a sparse N:M, not {args.nm}",
                          source="--nm")
    if not args.out.parent.is_dir():
        raise SatsimError("folder does not exist", source=args.out)
    options = dict(parse_overrides(args.model_options))
    spec = CaptureSpec(model=args.model, method=args.method, nm=nm, batch=args.batch,
                       steps=args.steps, data=args.data, shapes_only=args.shapes_only,
                       seed=args.seed, options=options)
    layers = tuple(name for name in args.dump_tensors.split(",") if name)
    dump_path = args.out.with_suffix(".npz") if layers else None
    trace = capture(spec, dump_layers=layers, dump_path=dump_path, progress=sys.stderr.isatty())
    write_trace(trace, args.out)
    print(f"{args.out}: {len(trace.records)} records ({len(trace.gemms)} GEMMs)"
          + (f", tensors in {dump_path}" if dump_path else ""))
    return 0


def _list(args: argparse.Namespace) -> int:
    kinds = {"configs": (".yaml", ".yml"), "dataflows": (".yaml", ".yml"),
             "workloads": (".jsonl", ".csv")}
    for kind, suffixes in kinds.items():
        if args.what in (None, kind):
            print(f"{kind}:")
            for name, path in shipped(kind, suffixes).items():
                print(f"  {name:<28} {path.name}")
    if args.what == "models":
        try:
            from satsim.capture.zoo import MODELS
        except ImportError:
            raise SatsimError("needs the torch extra: pip install 'satsim[torch]'",
                              source="satsim list models") from None
        print("models:")
        for name, spec in MODELS.items():
            print(f"  {name:<28} {spec.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return {"run": _run, "list": _list, "capture": _capture}[args.command](args)
    except SatsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
