"""The ``satsim`` command: parses arguments, calls the API, prints. Nothing else."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import warnings
from pathlib import Path

# Only light imports here: `satsim --help` and `satsim list` must not pay for pandas, numpy or
# the config models. Each command imports what it needs.
from satsim import __version__
from satsim.errors import SatsimError, one_line
from satsim.resources import DEFAULT_WORKLOAD, PAPER_MODELS, ShadowWarning, describe, shipped
from satsim.types import Method, NMPattern

_RUN_HELP = """\
Simulate one training iteration of a workload on a hardware preset under a dataflow policy:
the GEMMs on the PE array, mask generation on the SORE, vector work and weight updates on the
vector unit, and the DRAM transfers between them and the on-chip buffers. Prints cycles and
time per phase and per unit, what each waited for, DRAM traffic, the iteration with and
without the memory system, and the speedup over dense training.

With no arguments: one iteration of ResNet-18 on CIFAR-sized inputs, as BDWP 2:8 sparse
training, on the SAT preset (32x32 array, 200 MHz, four DDR4-2400 channels, 2.4 MiB of
buffers) with SAT's dataflow. --set memory=ideal keeps every operand on chip.

The offline scheduler's search is cached by content in $SATSIM_CACHE_DIR, else
$XDG_CACHE_HOME/satsim, else ~/.cache/satsim (SATSIM_CACHE_DIR=off or --no-cache: no cache;
a folder that cannot be written only costs the search again).
"""

_SCHEDULE_HELP = """\
Search the schedule of one run (the options are satsim run's) and write it to a readable,
editable YAML file: the records' issue order (and every candidate order's cycles), each
GEMM's stationarity and, per part, its tile size [mt, kt, nt] and loop order, each streamed
op's chunk size. satsim run --schedule FILE reuses it without searching, with the same
cycles; a valid hand edit changes the run as it says. The file names the SHA-256 of the
workload, hardware and dataflow it was made for, and is rejected for any other run.
Schedules are also cached by content in $SATSIM_CACHE_DIR, else $XDG_CACHE_HOME/satsim,
else ~/.cache/satsim (SATSIM_CACHE_DIR=off or --no-cache: no cache; a folder that cannot be
written only costs the search again).
"""

_EPILOG = """\
examples:
  satsim run
  satsim run --method srste --sparsity 2:4
  satsim run --hw my_accel.yaml --dataflow naive --set array.rows=16 --json out.json
  satsim run --workload layers.csv          (SCALE-Sim topology or name,M,K,N CSV)
  satsim run --timeline run.json            (open in https://ui.perfetto.dev)
  satsim schedule --out s.yaml && satsim run --schedule s.yaml
  satsim run --table ops.parquet            (one row per op: cycles, bytes, joules)
  satsim compare --nm 2:8                   (the SAT paper's headline: five models)
  satsim validate resnet18-cifar-bdwp-dump --set numerics.operand=bf16
  satsim list
  satsim plot breakdown out.json --out breakdown.pdf   (also: energy, utilization, roofline)
  satsim report out.json --out report/      (report/index.html: figures, tables, scope)
"""


_SWEEP_HELP = """\
Run every design point of a sweep spec (axes over config paths, sparsity, method, workload)
and store one row per point in Parquet shards under --out. Runs on this machine's cores, or on
Dask. A value a config field rejects is an error before anything runs; points whose values
clash are recorded as failed with their reason (exit 1 if every point failed). A killed sweep
continues with --resume and loses nothing. Results: satsim.sweep.load_results(DIR) (a pandas
frame), or any Parquet reader on DIR.
"""

_COMPARE_HELP = """\
For every model, simulate one training iteration densely, with SR-STE and with BDWP at one
N:M, on the same hardware and dataflow, and print the speedups over dense training next to
each method's uniform bound and the MAC-proportional ideal of its trace, and their means.
Shipped captures are used where they were captured at that N:M; otherwise the model's dense
capture is re-annotated (which gives a capture's numbers exactly). The runs are shared by
--workers processes; the table does not depend on how many.
"""

_CAPTURE_HELP = """\
Train a zoo model for a few real optimizer steps with an N:M training method and record the
last step's GEMMs (FF, BP, WG), vector work, weight updates and mask generation as a trace.
The N:M structure of each weight operand is measured, not assumed. Needs the torch extra.
"""


_VALIDATE_HELP = """\
Recompute every dumped layer of a captured step (satsim capture --dump-tensors) on the
modelled datapath: FF, BP and WG in the mapping the scheduler chooses (stationarity, N:M
compressed weights selected through their indices, the K slices of the schedule), in the
hardware's number formats; the masks on the SORE and the weight update on the WUVE where the
dump has them. Each GEMM result is compared three ways: datapath vs the exact result (the
same operands summed exactly, rounded once), PyTorch vs exact, and datapath vs PyTorch; each
row gives the largest error, its ratio to the K-scaled bound 2·K·u·(|A|@|B|) (+ one ulp of a
rounded output) and the share of bit-identical elements, with a note where PyTorch itself is
over the bound. Exit status: 0 all pass, 1 some check fails, 2 bad input.
"""


_PLOT_KINDS = ["speedup", "breakdown", "energy", "utilization", "roofline"]
_PLOT_HELP = """\
Plot a result as a paper-sized figure (.png, .svg or .pdf, chosen by the suffix of --out):
  speedup      speedup over dense per model and method, with the uniform bound and the
               MAC-proportional ideal (INPUT: satsim compare --json)
  breakdown    each unit's busy cycles stacked by phase, against the iteration (satsim run
               --json)
  energy       energy per phase stacked by unit; unpriced units n/a (satsim run --json)
  utilization  each unit's busy share, and the array's MAC utilization per layer and phase
               (satsim run --json)
  roofline     per GEMM: MACs per DRAM byte against achieved MAC rate, under the array's
               peak and the DRAM bandwidth (satsim run --json)
  pareto       a sweep's Pareto front of --x and --y (INPUT: satsim sweep --out folder)
"""

_REPORT_HELP = """\
Write DIR/index.html: one self-contained page of a run (satsim run --json) with its figures
embedded, the tables per phase, unit, buffer and energy, what was modelled and what was not,
and the provenance. No external files or scripts: it opens from disk in any browser. Given a
satsim compare --json file, the page shows the speedups instead.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem as one ``error:`` line and exits 2, and keeps
    the line breaks of descriptions and epilogs."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _whole(text: str) -> int:
    """An option's whole number in ASCII digits (``int`` would take "٣", "+3" and "1_0")."""
    if not re.fullmatch(r"-?[0-9]+", text):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


# What `satsim list` shows: heading -> (folder of shipped files, their suffixes).
_LISTED = {"configs": ("configs", (".yaml", ".yml")),
           "dataflows": ("dataflows", (".yaml", ".yml")),
           "workloads": ("workloads", (".jsonl", ".csv")),
           "energy": ("configs/energy", (".yaml", ".yml")),
           "sweeps": ("configs/sweeps", (".yaml", ".yml"))}


# Every option that names an input or an output: how its errors name it, what it takes.
_NAMED = {"workload": ("--workload", "a shipped name or a file"),
          "hw": ("--hw", "a shipped name or a file"),
          "dataflow": ("--dataflow", "a shipped name or a file"),
          "schedule": ("--schedule", "a schedule file"),
          "spec": ("SPEC", "a shipped name or a file"),
          "trace": ("TRACE", "a shipped name or a file"), "model": ("MODEL", "a zoo model"),
          "input": ("INPUT", "a file or a results folder"), "result": ("RESULT", "a file"),
          **{o: (f"--{o}", "a file name") for o in ("json", "table", "timeline")},
          "out": ("--out", "a file or folder name")}


def _check_names(args: argparse.Namespace) -> None:
    """An empty input or output names nothing: the error names the option."""
    for attribute, (option, wanted) in _NAMED.items():
        value = getattr(args, attribute, None)  # None: not given, or no such option here
        if value is not None and not value.strip():
            raise SatsimError(f"empty: expected {wanted}", source=option)


def _machine_options(parser: argparse.ArgumentParser, *, hw_note: str = "",
                     set_example: str = "array.rows=16 (hardware) or "
                                        "dataflow.interleave=false") -> None:
    """The machine a command simulates: --hw, --dataflow, --set."""
    parser.add_argument("--hw", default="sat", metavar="NAME|FILE",
                        help=f"hardware preset or YAML file (default: sat){hw_note}")
    parser.add_argument("--dataflow", default="sat", metavar="NAME|FILE",
                        help="dataflow preset or YAML file (default: sat)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help=f"override a config field, e.g. {set_example}; repeatable")


def _run_options(parser: argparse.ArgumentParser) -> None:
    """What a run is: the options ``run`` and ``schedule`` share."""
    _machine_options(parser)
    parser.add_argument("--workload", default=DEFAULT_WORKLOAD, metavar="NAME|FILE",
                        help="shipped workload, trace (.jsonl) or CSV (default: "
                             f"{DEFAULT_WORKLOAD})")
    parser.add_argument("--sparsity", metavar="dense|N:M",
                        help="re-annotate every layer the method can prune with this N:M, as "
                             "the capture's sparsify would (default: as in the trace)")
    parser.add_argument("--method", choices=[m.value for m in Method],
                        help="which phases are sparse: bdwp = FF and BP, srste = FF, dense = "
                             "none (default: as in the trace; with only --sparsity, the "
                             "trace's sparse method, or bdwp for a dense trace)")
    _cache_option(parser)


def _cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the schedule cache: search every "
                             "schedule (default: the cache of $SATSIM_CACHE_DIR, else "
                             "$XDG_CACHE_HOME/satsim, else ~/.cache/satsim)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="satsim", description="Cycle-level simulator of N:M sparse DNN "
                     "training accelerators.", epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"satsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="simulate a workload", description=_RUN_HELP)
    _run_options(run)
    run.add_argument("--schedule", metavar="FILE",
                     help="run the choices of this schedule file (satsim schedule --out) "
                          "instead of searching; it must be made for this workload, "
                          "hardware and dataflow")
    run.add_argument("--json", metavar="FILE",
                     help="also write the result as JSON ('-': to standard output, the table "
                          "then goes to standard error)")
    run.add_argument("--table", metavar="FILE",
                     help="also write the run as a tidy table, one row per op with "
                          "unit-suffixed columns (_cycles, _bytes, _j): .parquet or .csv")
    run.add_argument("--timeline", metavar="FILE",
                     help="also write the iteration as a Chrome trace-event file (Perfetto, "
                          "chrome://tracing): a track per unit and DRAM channel, an event per "
                          "task, buffer and bandwidth counters (ResNet-18: ~60 MB in seconds; "
                          "GPT-2: GBs)")

    sch = sub.add_parser("schedule", help="write the offline scheduler's choices to a file",
                         description=_SCHEDULE_HELP)
    _run_options(sch)
    sch.add_argument("--out", required=True, metavar="FILE",
                     help="schedule file to write (YAML; edit it, then satsim run --schedule)")

    cmp = sub.add_parser("compare", help="dense vs srste vs bdwp speedups, model by model",
                         description=_COMPARE_HELP)
    cmp.add_argument("--workloads", default=",".join(PAPER_MODELS), metavar="A,B,...",
                     help="models with shipped captures (<model>-dense/-srste/-bdwp) or trace "
                          "files, comma-separated (default: the SAT paper's five)")
    cmp.add_argument("--nm", default="2:8", metavar="N:M",
                     help="N:M of both sparse methods (default 2:8, the paper's headline)")
    _machine_options(cmp)
    cmp.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    cmp.add_argument("--workers", type=_whole, metavar="N",
                     help="processes sharing the 3 runs per model (default: every core; the "
                          "table does not depend on it)")
    _cache_option(cmp)

    sweep = sub.add_parser("sweep", help="run a design-space sweep (resumable)",
                           description=_SWEEP_HELP)
    sweep.add_argument("spec", metavar="SPEC",
                       help="sweep spec (YAML file, or a shipped one: smoke, paper-models)")
    sweep.add_argument("--out", required=True, metavar="DIR",
                       help="results folder: _manifest.json and shards/*.parquet, one "
                            "schema; any Parquet reader takes the folder itself")
    sweep.add_argument("--engine", choices=["local", "dask"], default="local",
                       help="local: this machine's process pool (default); dask: a Dask "
                            "scheduler at --address, or a LocalCluster started here")
    sweep.add_argument("--workers", type=_whole, metavar="N",
                       help="worker processes (default: every core; dask without --address)")
    sweep.add_argument("--address", metavar="tcp://HOST:PORT",
                       help="a running Dask scheduler (with --engine dask)")
    sweep.add_argument("--resume", action="store_true",
                       help="continue a sweep in DIR: skip finished points")

    plot = sub.add_parser("plot", help="plot results (a run, a comparison, a sweep)",
                          description=_PLOT_HELP)
    plot.add_argument("kind", choices=["pareto", *_PLOT_KINDS], help="what to plot")
    plot.add_argument("input", metavar="INPUT",
                      help="satsim run --json file (breakdown, energy, utilization, "
                           "roofline), satsim compare --json file (speedup) or sweep results "
                           "folder (pareto)")
    plot.add_argument("--x", metavar="COL", help="pareto: x column, e.g. seconds")
    plot.add_argument("--y", metavar="COL", help="pareto: y column, e.g. energy_j")
    plot.add_argument("--color", metavar="COL", help="pareto: colour points by this column")
    plot.add_argument("--max-x", action="store_true",
                      help="pareto: larger x is better (default: lower)")
    plot.add_argument("--max-y", action="store_true",
                      help="pareto: larger y is better (default: lower)")
    plot.add_argument("--out", required=True, metavar="FILE", help="image (.png, .svg, .pdf)")

    rep = sub.add_parser("report", help="an HTML page of a run: plots, tables, scope",
                         description=_REPORT_HELP)
    rep.add_argument("result", metavar="RESULT",
                     help="satsim run --json file (or satsim compare --json file)")
    rep.add_argument("--out", required=True, metavar="DIR",
                     help="folder to write index.html in (created if missing)")

    val = sub.add_parser("validate", help="check the datapath's numbers against a captured "
                         "step's tensors", description=_VALIDATE_HELP)
    val.add_argument("trace", metavar="TRACE",
                     help="captured trace (.jsonl) with its tensor dump (.npz) beside it, or "
                          "a shipped workload name")
    _machine_options(val, hw_note="; numerics.* sets the formats",
                     set_example="numerics.operand=bf16")
    val.add_argument("--json", metavar="FILE",
                     help="also write the checks as JSON ('-': to standard output)")

    lst = sub.add_parser("list", help="list shipped presets, dataflows, workloads, energy "
                         "tables, sweep specs and models")
    lst.add_argument("what", nargs="?", choices=[*_LISTED, "models"],
                     help="only this kind (models need the torch extra; the SAT paper's "
                          "five first, each with its parameter count)")

    cap = sub.add_parser("capture", help="capture a training iteration of a zoo model (torch)",
                         description=_CAPTURE_HELP)
    cap.add_argument("model", help="zoo model (see 'satsim list models')")
    cap.add_argument("--method", required=True, choices=[m.value for m in Method],
                     help="N:M training method")
    cap.add_argument("--nm", metavar="N:M",
                     help="N:M pattern for bdwp/srste (default 2:8; none for dense)")
    cap.add_argument("--batch", type=_whole, required=True, help="batch size")
    cap.add_argument("--steps", type=_whole, default=2,
                     help="optimizer steps to run; the last one is traced (default 2)")
    cap.add_argument("--data", choices=["digits", "synthetic"],
                     help="training data (default: digits for 32x32 10-class models, else "
                          "synthetic)")
    cap.add_argument("--shapes-only", action="store_true",
                     help="no compute (FakeTensorMode): fast, N:M taken from the configuration")
    cap.add_argument("--dump-tensors", metavar="LAYER[,LAYER]", default="",
                     help="save these layers' FF/BP/WG operands, results and masks to "
                          "OUT.npz")
    cap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                     help="training precision: bf16/fp16 run forward under CPU autocast with "
                          "fp32 master weights, and dumps keep that format (default fp32)")
    cap.add_argument("--seed", type=_whole, default=0, help="random seed (default 0)")
    cap.add_argument("--model-option", dest="model_options", action="append", default=[],
                     metavar="KEY=VALUE", help="model builder option, e.g. width=8 (tiny "
                     "variants); repeatable")
    cap.add_argument("--out", required=True, metavar="FILE",
                     help="trace file to write (.jsonl)")
    return parser


def _run_inputs(args: argparse.Namespace) -> list[tuple[str, Path | str | None]]:
    """The files ``run`` and ``schedule`` read, by option (for :func:`check_distinct`)."""
    from satsim.config.loader import input_files
    from satsim.trace.workload import resolve_workload

    return [("--workload", resolve_workload(args.workload)),
            ("--schedule", getattr(args, "schedule", None)),
            *input_files(args.hw, args.dataflow, args.overrides)]


def _run(args: argparse.Namespace) -> int:
    from satsim.api import run
    from satsim.files import check_distinct, check_writable, write_text

    check_distinct([("--json", args.json), ("--timeline", args.timeline),
                    ("--table", args.table)], _run_inputs(args))
    to_stdout = args.json == "-"
    if args.json is not None and not to_stdout:
        check_writable(args.json)  # before the run, not after it
    if args.timeline is not None:
        check_writable(args.timeline)
    if args.table is not None:
        if Path(args.table).suffix.lower() not in (".parquet", ".csv"):
            raise SatsimError("expected a .parquet or .csv file name", source=args.table)
        check_writable(args.table)
    report = run(args.workload, args.hw, args.dataflow, method=args.method,
                 sparsity=args.sparsity, overrides=args.overrides,
                 timeline=args.timeline is not None, schedule=args.schedule)
    for warning in report.warnings:
        print(f"warning: {one_line(warning)}", file=sys.stderr)
    if args.timeline is not None:
        write_text(args.timeline, json.dumps(report.timeline, separators=(",", ":")))
    if args.json is not None and not to_stdout:
        write_text(args.json, report.json_text())
    if args.table is not None:
        from satsim.report.tidy import tidy_frame, write_table

        write_table(tidy_frame(report.result), args.table)
    print(report.text(), file=sys.stderr if to_stdout else sys.stdout)
    if to_stdout:
        sys.stdout.write(report.json_text())
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from satsim.api import schedule
    from satsim.files import check_distinct, check_writable
    from satsim.schedule.choices import GemmChoice, write_schedule

    check_distinct([("--out", args.out)], _run_inputs(args))
    check_writable(args.out)
    made = schedule(args.workload, args.hw, args.dataflow, method=args.method,
                    sparsity=args.sparsity, overrides=args.overrides)
    write_schedule(made, args.out)
    gemms = sum(isinstance(c, GemmChoice) for c in made.ops.values())
    print(f"{made.inputs['workload']['name']} on {made.inputs['hardware']['name']} "
          f"({made.inputs['dataflow']['name']}): {made.cycles:,} cycles, issue order "
          f"{made.order_name!r} of {len(made.tried)} tried; {gemms} GEMMs, "
          f"{len(made.ops) - gemms} streams; written to {args.out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from satsim.compare import base_workload, compare
    from satsim.config.loader import input_files
    from satsim.files import check_distinct, check_writable, write_text

    models = [m.strip() for m in args.workloads.split(",") if m.strip()]
    check_distinct([("--json", args.json)], [*(("--workloads", base_workload(m)) for m in models),
                                             *input_files(args.hw, args.dataflow, args.overrides)])
    if args.json is not None:
        check_writable(args.json)
    result = compare(models, args.nm, args.hw, args.dataflow, args.overrides, args.workers,
                     progress=lambda run: print(f"simulated {run}", file=sys.stderr,
                                                flush=True))
    if args.json is not None:
        write_text(args.json, json.dumps(result.to_json(), indent=2) + "\n")
    print("\n".join(result.lines()))
    return 0


def _capture(args: argparse.Namespace) -> int:
    from satsim.config import parse_overrides
    from satsim.files import check_distinct, check_writable

    try:
        nm = NMPattern.parse(args.nm or ("dense" if args.method == "dense" else "2:8"))
    except ValueError as exc:
        raise SatsimError(str(exc), source="--nm") from None
    if args.method == "dense" and nm is not None:
        raise SatsimError(f"--method dense prunes no layer, so {nm} has no meaning",
                          source="--nm")
    if args.method != "dense" and nm is None:
        raise SatsimError(f"--method {args.method} needs a sparse N:M, not {args.nm}",
                          source="--nm")
    layers = tuple(name for name in args.dump_tensors.split(",") if name)
    if layers and args.shapes_only:
        raise SatsimError("shape-only captures have no tensor values to dump",
                          source="--dump-tensors")
    out = Path(args.out)
    dump_path = out.with_suffix(".npz") if layers else None
    check_distinct([("--out", out), ("its tensor dump", dump_path)])
    for path in (out, dump_path):
        if path is not None:
            check_writable(path)
    options = dict(parse_overrides(args.model_options, option="--model-option"))
    try:
        from satsim.capture.capture import CaptureSpec, capture
    except ImportError as exc:
        raise SatsimError(f"needs the torch extra ({exc.name} is missing): "
                          "pip install 'satsim[torch]'", source="satsim capture") from None
    from satsim.trace import write_trace

    spec = CaptureSpec(model=args.model, method=args.method, nm=nm, batch=args.batch,
                       steps=args.steps, data=args.data, shapes_only=args.shapes_only,
                       seed=args.seed, precision=args.precision, options=options)
    dump_existed = dump_path is not None and dump_path.exists()
    try:
        trace = capture(spec, dump_layers=layers, dump_path=dump_path, progress=True)
        write_trace(trace, out)
    except BaseException:
        if dump_path is not None and not dump_existed:  # no half of a capture left behind
            dump_path.unlink(missing_ok=True)
        raise
    print(f"{out}: {len(trace.records)} records ({len(trace.gemms)} GEMMs)"
          + (f", tensors in {dump_path}" if dump_path else ""))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from satsim.api import validate
    from satsim.config.loader import input_files
    from satsim.files import check_distinct, check_writable, write_text
    from satsim.trace.workload import resolve_workload

    trace = resolve_workload(args.trace)
    check_distinct([("--json", args.json)], [
        ("TRACE", trace), ("its tensor dump", trace.with_suffix(".npz")),
        *input_files(args.hw, args.dataflow, args.overrides)])
    to_stdout = args.json == "-"
    if args.json is not None and not to_stdout:
        check_writable(args.json)
    result = validate(args.trace, args.hw, args.dataflow, overrides=args.overrides)
    if args.json is not None and not to_stdout:
        write_text(args.json, result.json_text())
    print(result.text(), file=sys.stderr if to_stdout else sys.stdout)
    if to_stdout:
        sys.stdout.write(result.json_text())
    return 0 if result.passed else 1


def _sweep(args: argparse.Namespace) -> int:
    from satsim.files import check_distinct
    from satsim.sweep import run_sweep
    from satsim.sweep.spec import input_files

    check_distinct([("--out", args.out)], input_files(args.spec))
    summary = run_sweep(args.spec, args.out, engine=args.engine, workers=args.workers,
                        address=args.address, resume=args.resume, progress=True)
    print(f"{args.out}: {summary.describe()}")
    if (failures := summary.describe_failures()) is not None:
        print(f"{args.out}: {failures}")
    return 1 if summary.all_failed else 0


def _plot(args: argparse.Namespace) -> int:
    from satsim.files import check_distinct

    check_distinct([("--out", args.out)], [("INPUT", args.input)])
    if args.kind != "pareto":
        from satsim.report.figures import KINDS, plot

        unused = [f"--{o.replace('_', '-')}" for o in ("x", "y", "color") if getattr(args, o)]
        unused += [f"--{o.replace('_', '-')}" for o in ("max_x", "max_y") if getattr(args, o)]
        if unused:
            raise SatsimError(f"{', '.join(unused)}: only for plot pareto",
                              source=f"plot {args.kind}")
        plot(args.kind, args.input, args.out)
        print(f"{args.out}: {KINDS[args.kind].what}")
        return 0
    for option in ("x", "y"):
        if getattr(args, option) is None:
            raise SatsimError(f"plot pareto needs --{option} COL", source=f"--{option}")
    from satsim.report.plots import plot_pareto
    from satsim.sweep import load_results

    frame = load_results(args.input)
    frame.attrs["source"] = args.input  # errors name the folder
    plot_pareto(frame, args.x, args.y, color=args.color, out=args.out,
                maximize_x=args.max_x, maximize_y=args.max_y)
    print(f"{args.out}: Pareto front of {args.y} against {args.x}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from satsim.files import check_distinct
    from satsim.report.html import write_report

    check_distinct([("--out", Path(args.out) / "index.html")], [("RESULT", args.result)])
    page = write_report(args.result, args.out)
    print(f"{page}: report of {args.result}")
    return 0


def _list(args: argparse.Namespace) -> int:
    for heading, (kind, suffixes) in _LISTED.items():
        if args.what in (None, heading):
            print(f"{heading}:")
            for name, path in shipped(kind, suffixes).items():
                print(f"  {name:<28} {describe(path)}")
    if args.what == "models":
        try:
            from satsim.capture.zoo import MODELS, PAPER
        except ImportError:
            raise SatsimError("needs the torch extra: pip install 'satsim[torch]'",
                              source="satsim list models") from None
        groups = {f"{PAPER} models": [s for s in MODELS.values() if s.paper_name],
                  "other models": [s for s in MODELS.values() if not s.paper_name]}
        for heading, specs in groups.items():
            print(f"{heading}:")
            for spec in specs:
                print(f"  {spec.name:<28} {spec.description}")
    return 0


def _cache(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """--no-cache: the schedule cache off for this command and the processes it starts."""
    if not getattr(args, "no_cache", False):
        return contextlib.nullcontext()
    from satsim.schedule.choices import caching_off

    return caching_off()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # nothing to do is a usage error
        parser.print_help(sys.stderr)
        return 2
    try:
        _check_names(args)
        commands = {"run": _run, "schedule": _schedule, "compare": _compare, "list": _list,
                    "capture": _capture, "sweep": _sweep, "plot": _plot, "report": _report,
                    "validate": _validate}
        with warnings.catch_warnings(), _cache(args):
            python_show = warnings.showwarning

            def show(message, category, *where):  # satsim's own: one `warning:` line
                if not issubclass(category, ShadowWarning):
                    return python_show(message, category, *where)
                print(f"warning: {one_line(str(message))}", file=sys.stderr)

            warnings.showwarning = show
            warnings.simplefilter("default", ShadowWarning)  # once per run each, whatever -W says
            return commands[args.command](args)
    except SatsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`satsim run | head -1`): stop quietly, like any filter.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
