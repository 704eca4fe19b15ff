"""What each ``satsim`` command does with its parsed arguments: check them, call the API,
write the files asked for and print. Each command imports what it needs, so that `satsim
--help` and `satsim list` stay light."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from satsim.cli.parser import LISTED
from satsim.errors import SatsimError, one_line
from satsim.resources import describe, shipped
from satsim.types import NMPattern


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
    cut = None
    if args.timeline_window is not None or args.timeline_layers is not None:
        from satsim.report.trace_events import Cut

        if args.timeline is None:
            raise SatsimError("cuts the timeline: give --timeline FILE too",
                              source="--timeline-window" if args.timeline_window is not None
                              else "--timeline-layers")
        cut = Cut(args.timeline_window, args.timeline_layers)
    if args.timeline is not None:
        check_writable(args.timeline)
    if args.table is not None:
        if Path(args.table).suffix.lower() not in (".parquet", ".csv"):
            raise SatsimError("expected a .parquet or .csv file name", source=args.table)
        check_writable(args.table)
    report = run(args.workload, args.hw, args.dataflow, method=args.method,
                 sparsity=args.sparsity, overrides=args.overrides,
                 timeline=args.timeline is not None, schedule=args.schedule, cut=cut)
    for warning in report.warnings:
        print(f"warning: {one_line(warning)}", file=sys.stderr)
    if args.timeline is not None:
        report.timeline.write(args.timeline)
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
    adamw = {key: value for key, value in (("betas", args.betas), ("eps", args.eps),
                                            ("weight_decay", args.weight_decay))
             if value is not None}
    try:
        from satsim.capture.capture import CaptureSpec, capture
    except ImportError as exc:
        raise SatsimError(f"needs the torch extra ({exc.name} is missing): "
                          "pip install 'satsim[torch]'", source="satsim capture") from None
    from satsim.trace import write_trace

    if args.model_config is None and args.model is None:
        raise SatsimError("name a zoo model (see 'satsim list models') or give "
                          "--model-config FILE.json", source="satsim capture")
    model = args.model if args.model is not None else Path(args.model_config).stem
    spec = CaptureSpec(model=model, method=args.method, nm=nm, batch=args.batch,
                       steps=args.steps, micro_batches=args.micro_batches, data=args.data,
                       shapes_only=args.shapes_only,
                       seed=args.seed, precision=args.precision, options=options,
                       optimizer=args.optimizer, lr=args.lr, **adamw,
                       model_config=args.model_config)
    if adamw and spec.optimizer != "adamw":
        option = "--" + next(iter(adamw)).replace("_", "-")
        raise SatsimError(f"{option} is a hyper-parameter of adamw, not {spec.optimizer}",
                          source=option)
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
    for heading, (kind, suffixes) in LISTED.items():
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


# Every command: its name on the command line -> what runs it.
COMMANDS = {"run": _run, "schedule": _schedule, "compare": _compare, "list": _list,
            "capture": _capture, "sweep": _sweep, "plot": _plot, "report": _report,
            "validate": _validate}
