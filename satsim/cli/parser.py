"""The ``satsim`` command's arguments: every command's options, how a usage error is reported,
and which options name an input or an output."""

from __future__ import annotations

import argparse
import re

# Only light imports here: `satsim --help` and `satsim list` must not pay for pandas, numpy or
# the config models.
from satsim import __version__
from satsim.cli.descriptions import (
    CAPTURE_HELP,
    COMPARE_HELP,
    EPILOG,
    PLOT_HELP,
    REPORT_HELP,
    RUN_HELP,
    SCHEDULE_HELP,
    SWEEP_HELP,
    VALIDATE_HELP,
)
from satsim.errors import SatsimError
from satsim.resources import DEFAULT_WORKLOAD, PAPER_MODELS
from satsim.types import Method

_PLOT_KINDS = ["speedup", "breakdown", "energy", "utilization", "roofline"]


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


def _window(text: str) -> tuple[int | None, int | None]:
    """``START:END`` in cycles, either side left out for an open end; START < END."""
    found = re.fullmatch(r"([0-9]*):([0-9]*)", text)
    if not found or found.groups() == ("", ""):
        raise argparse.ArgumentTypeError(f"expected START:END in cycles, got {text!r}")
    start, end = (int(x) if x else None for x in found.groups())
    if start is not None and end is not None and start >= end:
        raise argparse.ArgumentTypeError(f"expected START below END, got {text!r}")
    return start, end


def _layers(text: str) -> tuple[str, ...]:
    """Layer names, comma-separated, none empty."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected layer names A,B,..., got {text!r}")
    return names


def _decimal(text: str) -> float:
    """An option's decimal number in ASCII (``float`` would take "٣", "1_0", "nan" and "inf")."""
    if not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", text):
        raise argparse.ArgumentTypeError(f"expected a decimal number, got {text!r}")
    return float(text)


def _betas(text: str) -> tuple[float, float]:
    """AdamW's ``B1,B2``."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected B1,B2, got {text!r}")
    first, second = (_decimal(part) for part in parts)
    return first, second


# What `satsim list` shows: heading -> (folder of shipped files, their suffixes).
LISTED = {"configs": ("configs", (".yaml", ".yml")),
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


def check_names(args: argparse.Namespace) -> None:
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
    parser.add_argument("--dataflow", metavar="NAME|FILE",
                        help="dataflow preset or YAML file (default: the one the hardware "
                             "names; sat for sat)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="satsim", description="Cycle-level simulator of N:M sparse DNN "
                     "training accelerators.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"satsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="simulate a workload", description=RUN_HELP)
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
                          "task, buffer and bandwidth counters (ResNet-18: ~60 MB, ResNet-50 "
                          "b32: ~660 MB; cut it with the two options below)")
    run.add_argument("--timeline-window", type=_window, metavar="START:END",
                     help="keep in the timeline only the tasks overlapping cycles START to "
                          "END (END excluded; either may be left out: 5000000: or :200000)")
    run.add_argument("--timeline-layers", type=_layers, metavar="A,B,...",
                     help="keep in the timeline only the tasks of these layers (names as in "
                          "the trace; with --timeline-window, those of them in the window)")

    sch = sub.add_parser("schedule", help="write the offline scheduler's choices to a file",
                         description=SCHEDULE_HELP)
    _run_options(sch)
    sch.add_argument("--out", required=True, metavar="FILE",
                     help="schedule file to write (YAML; edit it, then satsim run --schedule)")

    cmp = sub.add_parser("compare", help="dense vs srste vs bdwp speedups, model by model",
                         description=COMPARE_HELP)
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
                           description=SWEEP_HELP)
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
                          description=PLOT_HELP)
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
                         description=REPORT_HELP)
    rep.add_argument("result", metavar="RESULT",
                     help="satsim run --json file (or satsim compare --json file)")
    rep.add_argument("--out", required=True, metavar="DIR",
                     help="folder to write index.html in (created if missing)")

    val = sub.add_parser("validate", help="check the datapath's numbers against a captured "
                         "step's tensors", description=VALIDATE_HELP)
    val.add_argument("trace", metavar="TRACE",
                     help="captured trace (.jsonl) with its tensor dump (.npz) beside it, or "
                          "a shipped workload name")
    _machine_options(val, hw_note="; numerics.* sets the formats",
                     set_example="numerics.operand=bf16")
    val.add_argument("--json", metavar="FILE",
                     help="also write the checks as JSON ('-': to standard output)")

    lst = sub.add_parser("list", help="list shipped presets, dataflows, workloads, energy "
                         "tables, sweep specs and models")
    lst.add_argument("what", nargs="?", choices=[*LISTED, "models"],
                     help="only this kind (models need the torch extra; the SAT paper's "
                          "five first, each with its parameter count)")

    cap = sub.add_parser("capture", help="capture a training iteration of a zoo model (torch)",
                         description=CAPTURE_HELP)
    cap.add_argument("model", nargs="?",
                     help="zoo model (see 'satsim list models'); with --model-config, the "
                          "trace's name (default: the file's stem)")
    cap.add_argument("--model-config", metavar="FILE.json",
                     help="a LLaMA-family model from a Hugging Face-style config.json (no "
                          "weights): hidden_size, intermediate_size, num_hidden_layers, "
                          "num_attention_heads, num_key_value_heads, vocab_size, "
                          "max_position_embeddings, rms_norm_eps, rope_theta, "
                          "tie_word_embeddings")
    cap.add_argument("--method", required=True, choices=[m.value for m in Method],
                     help="N:M training method")
    cap.add_argument("--nm", metavar="N:M",
                     help="N:M pattern for bdwp/srste (default 2:8; none for dense)")
    cap.add_argument("--batch", type=_whole, required=True, help="batch size")
    cap.add_argument("--steps", type=_whole, default=2,
                     help="optimizer steps to run; the last one is traced (default 2)")
    cap.add_argument("--micro-batches", type=_whole, default=1, metavar="K",
                     help="gradient accumulation: each step runs K forward and backward passes "
                          "of --batch samples, then one update (default 1)")
    cap.add_argument("--data", choices=["digits", "synthetic"],
                     help="training data (default: digits for 32x32 10-class models, else "
                          "synthetic)")
    cap.add_argument("--shapes-only", action="store_true",
                     help="no compute (FakeTensorMode): fast, N:M taken from the configuration")
    cap.add_argument("--dump-tensors", metavar="LAYER[,LAYER]", default="",
                     help="save these layers' FF/BP/WG operands, results and masks to "
                          "OUT.npz")
    cap.add_argument("--precision", choices=["fp32", "bf16", "fp16"],
                     help="training precision: bf16/fp16 run forward under CPU autocast with "
                          "fp32 master weights, and dumps keep that format (default: the "
                          "model's: bf16 for the LLaMA family, else fp32)")
    cap.add_argument("--seed", type=_whole, default=0, help="random seed (default 0)")
    cap.add_argument("--optimizer", choices=["sgd-momentum", "adamw"],
                     help="the update: SGD with momentum 0.9, or AdamW with fp32 moments "
                          "(default: the model's: adamw for the LLaMA family, else "
                          "sgd-momentum)")
    cap.add_argument("--lr", type=_decimal, metavar="LR",
                     help="learning rate (default 0.01 for sgd-momentum, 3e-4 for adamw)")
    cap.add_argument("--betas", type=_betas, metavar="B1,B2",
                     help="adamw: the moments' decay rates, each in [0, 1) (default 0.9,0.95)")
    cap.add_argument("--eps", type=_decimal, help="adamw: the denominator's epsilon (default 1e-8)")
    cap.add_argument("--weight-decay", type=_decimal, metavar="WD",
                     help="adamw: decoupled weight decay of the parameters with two or more "
                          "dimensions (default 0.1)")
    cap.add_argument("--model-option", dest="model_options", action="append", default=[],
                     metavar="KEY=VALUE", help="model builder option, e.g. width=8 (tiny "
                     "variants), or checkpoint=true (GPT-2, LLaMA: activation checkpointing of "
                     "every block); repeatable")
    cap.add_argument("--out", required=True, metavar="FILE",
                     help="trace file to write (.jsonl)")
    return parser
