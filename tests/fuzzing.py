"""Fuzzing satsim's input boundaries: mutated-input strategies and the outcome classifier.

Shared by ``tests/test_fuzz.py`` (a few hundred deterministic examples per parser) and
``benchmarks/fuzz_parsers.py`` (long runs). Each hypothesis strategy draws a :class:`Case`: the
files to write (seeded from shipped or freshly made inputs, then mutated structurally and byte
by byte) and the arguments of a ``satsim`` command (``run``, or ``sweep``). :func:`run_case`
runs it in-process through ``satsim.cli.main`` and classifies the result against satsim's
contract for bad input: one ``error: ...`` line on stderr naming the input, exit code 2, no
traceback, no output left behind; good input exits 0 (a sweep whose every point failed: 1)
with its output complete. Anything else is an *escape*.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import io
import json
import re
import shutil
import signal
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from hypothesis import strategies as st

import satsim.cli
from satsim.api import schedule
from satsim.cli import main
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.sweep import load_results

TIME_LIMIT = 5.0  # seconds; every fuzzed input is small, so anything slower counts as a hang
SWEEP_TIME_LIMIT = 30.0  # a sweep of a few dozen tiny points, with its process pool
# The clean outcomes: exit 0, exit 2, and a sweep's exit 1 (every point failed, recorded).
OK, ERROR, FAILED = "ok", "error", "failed"
CLEAN = (OK, ERROR, FAILED)
OUT = "<out>"  # in a Case's arguments: the output folder of a command that writes one
# One argument parser for every example: building satsim's (ten commands) takes longer than
# many a fuzzed run, and parsing arguments leaves it as it was.
_PARSER = functools.cache(satsim.cli.build_parser)

_CONFIGS = shipped("configs", (".yaml",))
_DATAFLOWS = shipped("dataflows", (".yaml",))
_WORKLOADS = shipped("workloads", (".jsonl",))
_PRESETS = [str(p) for p in [*_CONFIGS.values(), *_DATAFLOWS.values()]]
HW_FILE = str(_CONFIGS["sat-small"])  # small array: fast runs, and N:M beyond max_m = 8 reachable
DF_FILE = str(_DATAFLOWS["sat"])
# Two GEMMs, one 2:4 sparse: runs both the sparse and the dense simulation and the speedup table.
TINY_CSV = b"name,M,K,N,sparsity\nfc1,64,512,256,2:4\nfc2,32,64,16\n"
_TINY = "tiny.csv"


# ---------------------------------------------------------------- running and classifying


@dataclass(frozen=True)
class Case:
    """One fuzzed ``satsim COMMAND``: files to write, then arguments naming them by file name
    (and the output folder as :data:`OUT`)."""

    files: tuple[tuple[str, bytes], ...]
    args: tuple[str, ...]
    json: bool = False  # also pass --json OUT (run)
    fuzzed: tuple[str, ...] = ()  # names of the mutated files (the rest are fixed helpers)
    command: str = "run"
    bad: bool = False  # known to be bad input: only a clean exit 2 will do

    @property
    def size(self) -> int:
        return sum(len(data) for _, data in self.files) + sum(len(a) for a in self.args)

    def argv(self, inputs: Path, outputs: Path) -> list[str]:
        paths = {name: str(inputs / name) for name, _ in self.files}
        paths[OUT] = str(outputs / "results")
        return [self.command, *(paths.get(arg, arg) for arg in self.args)]

    def show(self, limit: int = 300) -> str:
        """The reproducer: argv and the fuzzed files' bytes, long parts elided."""
        here = Path(".")
        lines = ["argv: satsim " + " ".join(_clip(repr(a), limit) for a in self.argv(here, here))
                 + (" --json OUT" if self.json else "")]
        lines += [f"{name}: {_clip(repr(data), limit)}" for name, data in self.files
                  if name in self.fuzzed]
        return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit // 2]}...<{len(text)} chars>..." \
        f"{text[-limit // 4:]}"


@dataclass
class Outcome:
    """How one run ended: ``ok``/``error`` (clean) or an escape kind with its evidence."""

    kind: str
    detail: str = ""  # the error line, or the exception's last traceback lines
    where: str = ""  # innermost satsim frame (file:line) of an escaped exception
    exc: BaseException | None = None

    @property
    def escaped(self) -> bool:
        return self.kind not in CLEAN

    def signature(self) -> tuple[str, ...]:
        """What makes two escapes the same bug: kind plus exception type and satsim frame,
        or the error text with the variable parts (paths, numbers, quoted text) blanked."""
        if self.exc is not None:
            return (self.kind, type(self.exc).__name__, self.where)
        # The source (first part) and the reason (last part): the middle echoes user text.
        lines = self.detail.splitlines() or [""]
        source = re.sub(r"(/[^\s:]+)+", "<file>", lines[0].split(": ")[:2][-1].split(" ")[0])
        reason = re.sub(r"'[^']*'|\"[^\"]*\"", "<q>", lines[-1].split(": ")[-1])
        return (self.kind, source[:40], re.sub(r"\d+", "#", reason)[:60])


class Hang(BaseException):
    """Raised by the timer: one small input ran longer than :data:`TIME_LIMIT`.

    A BaseException so that no ``except Exception`` inside satsim swallows it.
    """


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _strict_json(text: str) -> Any:
    def reject(token: str) -> Any:
        raise ValueError(f"{token} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=reject)


def _exception_outcome(kind: str, exc: BaseException) -> Outcome:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/satsim/" in f.filename.replace("\\", "/")]
    frame = ours[-1] if ours else (frames[-1] if frames else None)
    where = f"{_short(frame.filename)}:{frame.lineno}" if frame else "?"
    tail = [f"  {_short(f.filename)}:{f.lineno} in {f.name}" for f in frames[-3:]]
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Outcome(kind, "\n".join([*tail, _clip(last, 300)]), where, exc)


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("satsim", "site-packages", "python3.11", "python3.12", "python3.13"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + (anchor != "satsim"):])
    return filename


def run_case(case: Case, workdir: Path, time_limit: float | None = None) -> Outcome:
    """Run ``case`` in-process in ``workdir`` and classify the result against the contract."""
    outcome = _run_case(case, workdir, time_limit)
    if case.bad and outcome.kind in (OK, FAILED):
        return Outcome("accepted", f"bad input, yet exit {0 if outcome.kind == OK else 1}")
    return outcome


def _run_case(case: Case, workdir: Path, time_limit: float | None) -> Outcome:
    if time_limit is None:
        time_limit = SWEEP_TIME_LIMIT if case.command == "sweep" else TIME_LIMIT
    inputs, outputs = workdir / "in", workdir / "out"
    for folder in (inputs, outputs):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for name, data in case.files:
        (inputs / name).write_bytes(data)
    argv = case.argv(inputs, outputs)
    result = outputs / "result.json"
    if case.json:
        argv += ["--json", str(result)]
    # Anything an error line may name as its source: input files (given, or the default
    # presets), the options that take values, and for a conflict between inputs (N:M beyond
    # max_m, a dataflow the array's timing cannot do) the hardware or dataflow by name.
    sources = [str(inputs / name) for name, _ in case.files] + [
        a for a in argv if a.startswith("/")] + _PRESETS + ["--set", "--sparsity", "--method",
                                                           "--schedule", "hardware '",
                                                           "dataflow '"]

    out, err = io.StringIO(), io.StringIO()
    code: object = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _deadline(time_limit), contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err), \
                    mock.patch.object(satsim.cli, "build_parser", _PARSER):
                code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - any other exception is the finding
            outcome = _exception_outcome("hang" if isinstance(exc, Hang) else "exception", exc)
            if left := sorted(p.name for p in outputs.iterdir()):
                outcome.detail += f"\n(and left {left} behind)"
            return outcome
    code = 0 if code is None else code
    stderr, left = err.getvalue(), sorted(p.name for p in outputs.iterdir())
    # Line breaks as a terminal or a line reader sees them (not U+2028, NEL, \x1c, ...).
    lines = re.split(r"\r\n|\r|\n", stderr.removesuffix("\n")) if stderr else []
    if code not in ((0, 1, 2) if case.command == "sweep" else (0, 2)):
        return Outcome("exit-code", f"exit {code!r}; stderr: {_clip(stderr, 300)}")
    if "Traceback" in stderr:
        return Outcome("traceback", _clip(stderr, 600))
    if caught:  # from the command line a warning is extra text on stderr
        w = caught[0]
        return Outcome("warning", f"{w.category.__name__}: {w.message} "
                       f"({_short(w.filename)}:{w.lineno})")
    if code == 2:
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return Outcome("error-lines", _clip(stderr, 300))
        if not any(source in lines[0] for source in sources):
            return Outcome("no-source", lines[0])
        if left:
            return Outcome("leftover-output", f"{left} after: {lines[0]}")
        return Outcome(ERROR, lines[0])
    if case.command == "sweep":
        return _sweep_outcome(code, lines, outputs)
    if any(not line.startswith("warning: ") for line in lines):  # satsim's own notes only
        return Outcome("stderr-on-success", _clip(stderr, 300))
    try:  # a real stdout is strict UTF-8: unencodable text there is a crash (exit 1)
        out.getvalue().encode("utf-8")
    except UnicodeEncodeError as exc:
        return Outcome("unprintable-output", f"stdout: {exc}")
    if case.json:
        if left != [result.name]:
            return Outcome("bad-json", f"output folder holds {left}")
        try:
            doc = _strict_json(result.read_text())
        except ValueError as exc:
            return Outcome("bad-json", str(exc))
        if not isinstance(doc, dict) or doc.get("schema") != "satsim.result/2":
            return Outcome("bad-json", f"not a satsim.result/2 document: {str(doc)[:100]}")
    return Outcome(OK)


def _sweep_outcome(code: int, lines: list[str], outputs: Path) -> Outcome:
    """A sweep that exited 0 or 1: its results folder is complete and readable, and exit 1
    means that every point failed (each recorded with its reason)."""
    if code == 0 and any(not line.startswith(("warning: ", "sweep: ")) for line in lines):
        return Outcome("stderr-on-success", _clip("\n".join(lines), 300))
    left = sorted(p.name for p in outputs.iterdir())
    if left != ["results"]:
        return Outcome("bad-results", f"output folder holds {left}")
    try:
        frame = load_results(outputs / "results")
    except SatsimError as exc:
        return Outcome("bad-results", str(exc))
    all_failed = bool((frame["status"] != "ok").all())
    if code == 0 and all_failed:
        return Outcome("all-failed-exit-0", f"{len(frame)} points, every one failed: "
                       f"{_clip(str(frame['error'].iloc[0]), 200)}")
    if code == 1 and not all_failed:
        return Outcome("exit-code", "exit 1, though some points ran")
    return Outcome(OK if code == 0 else FAILED)


# ---------------------------------------------------------------- shared mutation pools

HUGE = "9" * 5000  # beyond Python's int <-> str limit (4300 digits)
BIG = "9" * 4000  # just inside it: parses, but is far beyond a float (1.8e308)


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


DEEP = [nested(1000), nested(100_000)]

# Bytes that mean something to JSON, YAML, CSV or the UTF-8 decoder and line splitter.
SPECIAL_BYTES = [b"\x00", b"\xff", b"\xfe", b"\xc3", b"\x80", b"\xef\xbb\xbf", b"\r", b"\n",
                 b"\r\n", b"\x85", b"\xc2\x85", "\u2028".encode(), b"\x1c", b"\x0c", b"\t",
                 b" ", b'"', b"'", b",", b":", b"{", b"}", b"[", b"]", b"-", b"#", b"&", b"*",
                 b"!", b"%", b"|", b">", b"\\", b"0", b"9", b"e"]


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes, max_ops: int = 3) -> bytes:
    """Up to ``max_ops`` byte edits: flip, insert, delete, duplicate a span, truncate."""
    # Mostly none, so that most examples get past the first parse into validation.
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, *range(1, max_ops + 1)]))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        i = index(draw, len(data) + 1)
        if op == "flip" and i < len(data):
            bit = 1 << draw(st.integers(0, 7))
            data = data[:i] + bytes([data[i] ^ bit]) + data[i + 1:]
        elif op == "insert":
            chunk = draw(st.sampled_from(SPECIAL_BYTES) | st.binary(min_size=1, max_size=4))
            data = data[:i] + chunk + data[i:]
        elif op in ("delete", "duplicate"):
            j = draw(st.integers(i, min(len(data), i + 64)))
            data = data[:i] + (data[i:j] * 2 if op == "duplicate" else b"") + data[j:]
        elif op == "truncate":
            data = data[:i]
    return data


def index(draw: st.DrawFn, n: int) -> int:
    """A position in ``range(n)``, uniformly (``st.integers`` favours 0: the header line)."""
    return draw(st.sampled_from(range(n)))


def rarely(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n``; shrinks to False (the unmutated input)."""
    return draw(st.integers(0, n - 1)) == n - 1


def _finish(draw: st.DrawFn, text: str, max_byte_ops: int = 3) -> bytes:
    """Text -> bytes with a drawn line ending, optional BOM, then byte mutations."""
    if rarely(draw, 4):
        text = text.replace("\n", draw(st.sampled_from(["\r\n", "\r"])))
    data = text.encode("utf-8", "surrogatepass")
    if rarely(draw, 8):
        data = b"\xef\xbb\xbf" + data
    return draw(mutate_bytes(data, max_byte_ops))


# ---------------------------------------------------------------- trace (JSON lines)


@dataclass(frozen=True)
class Raw:
    """Text emitted verbatim (tokens json.dumps cannot make: 1e400, deep nesting, ...)."""

    text: str


@dataclass
class Obj:
    """A JSON object as ordered pairs, so that a key can be duplicated."""

    pairs: list[tuple[str, Any]] = field(default_factory=list)

    def keys(self) -> list[str]:
        return [k for k, _ in self.pairs]


def _as_obj(value: Any) -> Any:
    if isinstance(value, dict):
        return Obj([(k, _as_obj(v)) for k, v in value.items()])
    if isinstance(value, list):
        return [_as_obj(v) for v in value]
    return value


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        return "{" + ",".join(f"{to_json(k)}:{to_json(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _records(name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in _WORKLOADS[name].read_text().splitlines()]


# Fields of a v2 record that name tensors of the table (a version-1 trace has none).
_TENSOR_REFS = ("a", "b", "c", "bias", "reads", "writes")


def _cut_seed() -> list[Any]:
    """A few records of the shipped ResNet-18 and GPT-2 traces as a version-1 trace (no tensor
    table, so any records make a trace): every kind, conv-lowered and plain GEMMs (whose dims a
    mutation can change alone), sparse and dense, batched."""
    lines = _records("resnet18-cifar-bdwp")
    header = {k: v for k, v in lines[0].items() if k != "precision"} | {"version": 1}
    header["meta"] = {k: header["meta"][k] for k in ("model", "method", "nm", "batch")}
    gemms = [r for r in lines if r.get("kind") == "gemm"]
    plain = [r for r in _records("gpt2-small-bdwp") if r.get("kind") == "gemm"]
    picks = [gemms[0], gemms[1], next(r for r in gemms if r["phase"] == "BP" and "conv" in r),
             next(r for r in gemms if r["phase"] == "WG" and "sparsity" not in r),
             next(r for r in plain if "sparsity" in r), next(r for r in plain if "batch" in r)]
    picks += [next(r for r in lines if r.get("kind") == k) for k in ("vector", "update", "maskgen")]
    picks = [{k: v for k, v in r.items() if k not in _TENSOR_REFS} for r in picks]
    return [_as_obj(r) for r in [header, *picks, {"kind": "end", "records": len(picks)}]]


# A whole version-2 trace (tensor table and dataflow graph) small enough to run in a blink:
# `satsim capture resnet9-cifar --method bdwp --nm 2:4 --batch 2 --model-option width=8
# --model-option image_size=8`, 125 records of every kind.
_TINY_TRACE = Path(__file__).parent / "data" / "fuzz" / "resnet9-tiny-bdwp.jsonl"
TRACE_SEEDS = [_cut_seed(), [_as_obj(json.loads(line))
                             for line in _TINY_TRACE.read_text().splitlines()]]
TRACE_FIELDS = ["format", "version", "name", "source", "meta", "kind", "phase", "layer", "M", "K",
                "N", "batch", "weight", "sparsity", "prunable", "conv", "dtype", "op", "elements",
                "param", "optimizer", "direction", "records", "in_channels", "out_channels",
                "height", "width", "kernel", "stride", "padding", "dilation", "groups"]
JSON_TOKENS = ["0", "-1", "1", "2", "1.5", "2.0", "-0", "1E2", "1e400", "-1e400", "1e-400", "NaN",
               "Infinity", "-Infinity", "true", "false", "null", '""', '" "', '"2:8"', '"2:4"',
               '"2:32"', '"3\\n:2"', '"8:2"', '"0:4"', '"1:1"', '"dense"', '"A"', '"B"', '"FF"',
               '"BP"', '"WG"', '"WU"', '"MASK"', '"gemm"', '"end"', '"vector"', '"satsim.trace"',
               '"a\\nb"', '"\\u0000"', '"\\ud800"', '"\\u2028"', '"\u2028"', "[]", "{}",
               "[1,2]", "[0,3]", "[3,0]", "[1,2,3]", '{"a":1}', str(2**31), str(2**63),
               str(2**64), str(10**30), BIG, HUGE, "-" + BIG, *DEEP, nested(2000, '{"a":', "}")]
_json_leaf = (st.none() | st.booleans() | st.integers() | st.floats()
              | st.text(max_size=8))
# Plausible values get past validation into the simulation and the report.
_json_plausible = st.sampled_from(
    [1, 2, 3, 7, 8, 64, 1000, 2**31, 2**40, 2**63, 2**64, 10**30, 10**100, int(BIG), True,
     "1:2", "2:4", "2:8", "1:16", "4:8", "dense", "FF", "BP", "WG", "A", "B", [3, 3], [1, 1]])
JSON_VALUES = (_json_plausible | st.sampled_from(JSON_TOKENS).map(Raw) | _json_leaf
               | st.lists(_json_leaf, max_size=3))
_SIZES = [1, 3, 8, 2**31, 2**40, 2**63, 2**64, 10**30, int(BIG)]
# Well-typed values per field (edge sizes), so that a mutated trace often still runs.
TRACE_VALUES: dict[str, list[Any]] = {
    **dict.fromkeys(["M", "K", "N", "batch", "elements", "in_channels", "out_channels",
                     "height", "width", "groups"], _SIZES),
    **dict.fromkeys(["kernel", "stride", "padding", "dilation"],
                    [[1, 1], [3, 3], [2**40, 1], [int(BIG), 1]]),
    "sparsity": ["1:2", "2:4", "2:8", "1:16", "2:9", "4:8", "dense"], "weight": ["A", "B"],
    "phase": ["FF", "BP", "WG"], "prunable": [True, False], "layer": ["x", "\u00e9"],
    "name": ["x", "\ud800", "a" * 1000], "meta": [{}, {"method": "srste"}, {"method": 3}],
}
GARBAGE_LINES = ["", "   ", "{}", "[]", "null", "1", '"x"', '{"kind":"end","records":0}',
                 '{"kind":"gemm"}', '{"kind":"end"}', HUGE, nested(100_000), "\x00", "{",
                 "\u2028", '{"format":"satsim.trace","version":1,"name":"x"}']


@st.composite
def _key(draw: st.DrawFn, existing: list[str]) -> str:
    base = draw(st.sampled_from(existing or TRACE_FIELDS) | st.sampled_from(TRACE_FIELDS))
    return draw(st.sampled_from([base, base, base.upper(), base + "\n", f"a\n{base}", " " + base])
                | st.text(max_size=4))


def _mutate_obj(draw: st.DrawFn, obj: Obj, depth: int = 0) -> None:
    keys = obj.keys()
    op = draw(st.sampled_from(["set", "set", "set", "delete", "duplicate", "rename", "nest"]))
    if op == "set" or not keys:
        key = draw(st.sampled_from(keys) if keys and draw(st.booleans()) else _key(keys))
        value = st.sampled_from(TRACE_VALUES[key]) if key in TRACE_VALUES else JSON_VALUES
        obj.pairs = [(k, v) for k, v in obj.pairs if k != key] + [
            (key, draw(value | JSON_VALUES))]
        return
    i = index(draw, len(keys))
    key, value = obj.pairs[i]
    if op == "delete":
        del obj.pairs[i]
    elif op == "duplicate":
        obj.pairs.append((key, draw(st.just(value) | JSON_VALUES)))
    elif op == "rename":
        obj.pairs[i] = (draw(_key(keys)), value)
    elif isinstance(value, Obj) and depth < 2:
        _mutate_obj(draw, value, depth + 1)
    elif isinstance(value, list) and value:
        j = index(draw, len(value))
        value[j] = draw(JSON_VALUES)


# Each seed line's JSON, made once: an example writes anew only the lines it changed.
_SEED_JSON = {id(line): to_json(line) for seed in TRACE_SEEDS for line in seed}


@st.composite
def trace_case(draw: st.DrawFn) -> Case:
    """A shipped trace cut to a few records (version 1), or a whole tiny capture (version 2:
    tensor table and graph), mutated line by line, field by field, byte by byte."""
    empty = [TRACE_SEEDS[0][0], Obj([("kind", "end"), ("records", 0)])]
    lines: list[Any] = list(draw(st.sampled_from(TRACE_SEEDS * 2 + [empty])))

    def own(i: int) -> Any:
        """Line ``i`` to edit: a seed line (shared by every example) is copied first."""
        if id(lines[i]) in _SEED_JSON:
            lines[i] = copy.deepcopy(lines[i])
        return lines[i]

    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["field"] * 5 + ["swap", "copy", "drop", "insert", "end"]))
        i, j = index(draw, len(lines)), index(draw, len(lines) + 1)
        if op == "field" and isinstance(lines[i], Obj):
            _mutate_obj(draw, own(i))
        elif op == "swap" and j < len(lines):
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "copy":
            lines.insert(j, copy.deepcopy(lines[i]))
        elif op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "insert":
            lines.insert(j, Raw(draw(st.sampled_from(GARBAGE_LINES))))
        elif op == "end" and isinstance(lines[-1], Obj):
            own(len(lines) - 1).pairs = [("kind", "end"), ("records", draw(
                JSON_VALUES | st.integers(-1, 10)))]
    text = "\n".join(_SEED_JSON.get(id(x)) or to_json(x) for x in lines)
    text += draw(st.sampled_from(["\n", "", "\n\n"]))
    data = _finish(draw, text)
    json_out = draw(st.booleans())
    return Case((("w.jsonl", data),), ("--workload", "w.jsonl", "--hw", HW_FILE), json_out,
                ("w.jsonl",))


# ---------------------------------------------------------------- YAML configs

YAML_SCALARS = ["0", "-1", "1", "2", "3.5", "-0.0", "1e3", "1.0e+3", "1.0e+400", "-1.0e+400",
                "1.0e-400", ".inf", "-.inf", ".nan", ".NaN", "0x10", "0o17", "017", "0b101",
                "1_000", "1:30", "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
                "true", "false", "yes", "no", "on", "off", "y", "~", "null", "''", '""', "' '",
                "'os'", "os", "ws", "auto", "OS", "ideal", "fp16", "fp32", "int8", "bf16",
                "float16", "sat", "naive", "'2:8'", '"a\\nb"', '"\\u2028"', '"\\0"', '"\\ud800"',
                "!!binary aGVsbG8=", "!!binary x", "!!str 32", "!!int '32'", "!!float '1'",
                "!!bool yes", "!!null ''", "!!set {a, b}", "!!omap [a: 1]", "!!timestamp x",
                "!!python/object:os.system {}", "!!python/name:os.system ''",
                "!!python/tuple [1, 2]", "!custom 1", "*undefined", "&x 3", "[1, 2]", "[]",
                "{}", "{a: 1}", "{rows: 8, cols: 8}", "{FF: ws, BP: os, WG: ws}", "{FF: xx}",
                "{lanes: 0}", "[rows, cols]", "{? [1, 2] : 3}", str(2**31), str(2**63),
                str(2**64), str(10**30), BIG, HUGE, "-" + HUGE, "1" + "0" * 400 + ".0",
                nested(1000), nested(100_000), nested(1000, "{a: ", "}")]
YAML_KEYS = ["name", "clock_mhz", "units", "routes", "kind", "count", "systolic", "maskgen",
             "array", "rows", "cols", "sparsity", "max_m", "patterns", "conv", "strided_bp",
             "numerics", "operand", "accumulate", "master", "memory", "sore", "vector",
             "update", "untimed", "lanes", "stationarity", "interleave", "pregenerate",
             "offline_schedule", "FF", "BP", "WG", "<<"]
# Exponential entity expansion through aliases ("billion laughs"), and a self-reference.
LAUGHS = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
YAML_PREFIXES = [LAUGHS, "base: &base {rows: 8, cols: 8}\n", "%YAML 1.2\n---\n", "---\n",
                 "%TAG ! tag:example.com,2000:\n---\n", "# comment\n", "self: &self [*self]\n"]
YAML_SUFFIXES = ["---\nname: other\n", "...\n", "---\n", "bad: [\n", "\t- tab\n"]
YAML_DOCS = ["", "~", "[]", "- a\n- b\n", "3", "'text'", "!!python/object:os.system {}",
             "---\n---\n", LAUGHS + "l9: [*l8, *l8]\n", nested(100_000), "{a: 1}"]
_YAML_VALUES = (st.sampled_from(YAML_SCALARS) | st.text(max_size=8).map(json.dumps)
                | st.integers().map(str) | st.floats().map(repr)
                | st.sampled_from(["*l8", "*base", "*self", "*l0"]))


def yaml_scalar(value: Any) -> Raw:
    """A parsed scalar as the YAML text that reads back as it."""
    return Raw(yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip())


def _key_text(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_<][\w<.]*", key) else json.dumps(key)


def _yaml_tree(value: Any) -> Any:
    """Parsed YAML -> Obj of pairs with scalars as YAML text (so keys can repeat)."""
    if isinstance(value, dict):
        return Obj([(str(k), _yaml_tree(v)) for k, v in value.items()])
    return yaml_scalar(value)


def to_yaml(node: Obj, indent: int = 0) -> str:
    """Block-style YAML; keys that are not plain words are double-quoted (escapes kept)."""
    out = []
    for key, value in node.pairs:
        shown = _key_text(key)
        if isinstance(value, Obj):
            out.append(f"{' ' * indent}{shown}:\n{to_yaml(value, indent + 2)}")
        else:
            out.append(f"{' ' * indent}{shown}: {value.text}\n")
    return "".join(out) if out else " " * indent + "{}\n"


YAML_SEEDS = {"--hw": [_yaml_tree(yaml.safe_load(p.read_text())) for p in _CONFIGS.values()],
              "--dataflow": [_yaml_tree(yaml.safe_load(p.read_text()))
                             for p in _DATAFLOWS.values()]}


def _mutate_yaml(draw: st.DrawFn, obj: Obj, depth: int = 0) -> None:
    keys = obj.keys()
    op = draw(st.sampled_from(["set"] * 4 + ["delete", "duplicate", "rename", "map", "nest"]))
    if op == "set" or not keys:
        key = draw(st.sampled_from(keys) if keys and draw(st.booleans()) else
                   st.sampled_from(YAML_KEYS) | st.text(min_size=1, max_size=4))
        obj.pairs = [(k, v) for k, v in obj.pairs if k != key] + [(key, Raw(draw(_YAML_VALUES)))]
        return
    i = index(draw, len(keys))
    key, value = obj.pairs[i]
    if op == "delete":
        del obj.pairs[i]
    elif op == "duplicate":  # the same key twice in one mapping
        obj.pairs.append((key, Raw(draw(_YAML_VALUES)) if draw(st.booleans()) else value))
    elif op == "rename":
        new = draw(st.sampled_from([key.upper(), key + "s", f"{key}\n", " " + key, key[:-1]])
                   | st.sampled_from(YAML_KEYS))
        obj.pairs[i] = (new or "_", value)
    elif op == "map":  # a mapping where a scalar belongs, or a scalar where a mapping does
        obj.pairs[i] = (key, Raw(draw(_YAML_VALUES)) if isinstance(value, Obj) else
                        Obj([(draw(st.sampled_from(YAML_KEYS)), Raw(draw(_YAML_VALUES)))]))
    elif isinstance(value, Obj) and depth < 2:
        _mutate_yaml(draw, value, depth + 1)


@st.composite
def yaml_case(draw: st.DrawFn, option: str) -> Case:
    """A shipped hardware (``option`` ``--hw``) or dataflow (``--dataflow``) YAML, mutated key
    by key and byte by byte."""
    tree = copy.deepcopy(draw(st.sampled_from(YAML_SEEDS[option])))
    for _ in range(draw(st.integers(0, 4))):
        _mutate_yaml(draw, tree)
    text = to_yaml(tree)
    if rarely(draw, 10):
        text = draw(st.sampled_from(YAML_DOCS))
    if rarely(draw, 5):
        text = draw(st.sampled_from(YAML_PREFIXES)) + text
    if rarely(draw, 7):
        text += draw(st.sampled_from(YAML_SUFFIXES))
    if rarely(draw, 10):
        text = text.replace("  ", "\t")
    name = "f" + draw(st.sampled_from([".yaml", ".yml"]))
    other = ["--dataflow", DF_FILE] if option == "--hw" else ["--hw", HW_FILE]
    return Case(((name, _finish(draw, text)), (_TINY, TINY_CSV)),
                ("--workload", _TINY, option, name, *other), draw(st.booleans()), (name,))


# ---------------------------------------------------------------- CSV workloads

CSV_SEEDS = [
    [["name", "M", "K", "N", "sparsity"], ["fc1", "64", "512", "256", "2:4"],
     ["fc2", "32", "64", "16", ""], ["fc3", "8", "8", "8", "dense"]],
    [["Layer name", " IFMAP Height", " IFMAP Width", " Filter Height", " Filter Width",
      " Channels", " Num Filter", " Strides", " Sparsity", ""],
     ["Conv1", "34", "34", "3", "3", "3", "16", "1", "2:4", ""],
     ["DP1", "8", "8", "3", "3", "16", "1", "1", "1:1", ""],
     ["Conv2", "16", "16", "3", "3", "16", "32", "2", "1", "2:8", ""]],
    [["Layer", " M", " N", " K", ""], ["L0", "196", "192", "384", "1:4", ""],
     ["L1", "196", "1176", "64", ""]],
]
CSV_TOKENS = ["0", "-1", "1", "2", "7", "64", "1.5", "1e3", "", " ", "x", "2:4", "2:8", "2:32",
              "4:2", "0:4", "1:1", "8:8", "dense", "DENSE", "3\n:2", "2 : 4", "1", str(2**63),
              str(10**30), BIG, HUGE, "\uff11\uff12", "\u0661\u0662", "1_000", "+5", " 7 ",
              "0x10", "nan", "inf", '"', "DP", "DPconv", "\u2028", "\x00", "a\nb", "a,b",
              "\ud800", "x" * 200_000]


@st.composite
def csv_case(draw: st.DrawFn) -> Case:
    """A plain or SCALE-Sim CSV workload, mutated cell by cell, row by row, byte by byte."""
    rows = [list(r) for r in draw(st.sampled_from(CSV_SEEDS))]
    # Plausible cells (edge sizes) as often as junk, so that many rows reach the simulation.
    plausible = st.sampled_from(["1", "3", "8", "64", str(2**31), str(2**40), str(2**63),
                                 str(10**30), BIG, "2:4", "1:8", "1:1", "dense", "DP1"])
    cell = plausible | st.sampled_from(CSV_TOKENS) | st.text(max_size=6)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["set"] * 4 + ["delete", "insert", "drop", "copy", "swap",
                                                 "blank", "header"]))
        r = index(draw, len(rows))
        row = rows[r]
        c = index(draw, len(row) + 1)
        if op == "set" and c < len(row):
            row[c] = draw(cell)
        elif op == "delete" and c < len(row):
            del row[c]
        elif op == "insert":
            row.insert(c, draw(cell))
        elif op == "drop" and len(rows) > 1:
            del rows[r]
        elif op == "copy":
            rows.insert(index(draw, len(rows) + 1), list(row))
        elif op == "swap" and c + 1 < len(row):
            row[c], row[c + 1] = row[c + 1], row[c]
        elif op == "blank":
            rows.insert(r, draw(st.sampled_from([[], [""], ["#", "comment"], [" ", " "]])))
        elif op == "header":
            rows[0] = [draw(st.sampled_from([h.upper(), h.lower(), h.strip(), h + " "]))
                       for h in rows[0]]
    if draw(st.booleans()):  # quoting as a spreadsheet writes it
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        text = buffer.getvalue()
    else:
        text = "".join(draw(st.sampled_from([",", ", "])).join(r) + "\n" for r in rows)
    return Case((("w.csv", _finish(draw, text)),), ("--workload", "w.csv", "--hw", HW_FILE),
                draw(st.booleans()), ("w.csv",))


# ---------------------------------------------------------------- --set lists



_INTS = ["1", "2", "8", "64", "1024", str(2**32), str(2**40), str(2**64), BIG]
_FORMATS = ["fp32", "fp16", "bf16", "fp8_e4m3", "int8", "int32"]
_MODES = ["os", "ws", "auto"]
_FLAGS = ["true", "false", "yes", "off", "1"]
# Values of the right type (and edge sizes) per key, so that many examples run to the end.
SET_VALUES: dict[str, list[str]] = {
    "name": ["x", "sat", "'a b'"], "clock_mhz": ["1", "200", "0.5", "1.0e-320", "1.0e+300",
                                                 ".inf", BIG],
    "array": ["{kind: systolic, rows: 4, cols: 4, sparsity: {max_m: 4}}",
              "{kind: systolic, rows: 1, cols: 4294967296, sparsity: {max_m: 4}}"],
    "array.rows": _INTS, "array.cols": _INTS, "array.count": _INTS,
    "array.sparsity": ["{max_m: 4}", "{patterns: ['2:4']}", "{patterns: [N:4, '1:8']}",
                       "{patterns: [N:M]}", "{max_m: 4, patterns: ['2:4']}"],
    "array.sparsity.max_m": ["2", "4", "16", str(2**64)],
    "array.sparsity.patterns": ["['2:4']", "[N:4]", "[N:M]", "['4:4']", "[x]", "[]"],
    "conv.strided_bp": ["zero_insert"], "numerics": ["{operand: fp16}"],
    "numerics.operand": _FORMATS, "numerics.accumulate": _FORMATS, "numerics.master": _FORMATS,
    "memory": ["ideal"], "sore": ["{kind: maskgen, lanes: 4}", "{kind: vector, lanes: 4}"],
    "sore.lanes": _INTS, "sore.kind": ["maskgen", "vector", "systolic", "x"],
    "vector": ["{kind: vector, lanes: 4}"], "vector.lanes": _INTS,
    "units.extra": ["{kind: maskgen, lanes: 4}", "{kind: nope}", "{lanes: 4}"],
    "routes.FF": ["array", "sore", "untimed", "x"], "routes.BP": ["array", "vector"],
    "routes.maskgen": ["sore", "untimed", "vector", "x"],
    "routes.vector": ["vector", "untimed", "sore"], "routes.update": ["vector", "untimed"],
    "hw.array.rows": _INTS, "hw.clock_mhz": ["100"],
    "dataflow.name": ["x"], "dataflow.stationarity": [*_MODES, "{FF: ws, BP: os}"],
    "dataflow.stationarity.FF": _MODES, "dataflow.stationarity.BP": _MODES,
    "dataflow.stationarity.WG": _MODES, "dataflow.interleave": _FLAGS,
    "dataflow.pregenerate": _FLAGS, "dataflow.offline_schedule": _FLAGS,
}
SET_KEYS = list(SET_VALUES)


@st.composite
def _set_key(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(SET_KEYS))
    edit = draw(st.sampled_from(["none"] * 9 + ["suffix", "prefix", "upper", "dot", "empty",
                                                "newline", "space", "text", "chop"]))
    return {
        "none": key, "suffix": key + "." + draw(st.sampled_from(["x", "rows", "FF", ""])),
        "prefix": draw(st.sampled_from(["x.", "dataflow.", "hw.", ".", "array."])) + key,
        "upper": key.upper(), "dot": key.replace(".", ".."), "empty": "",
        "newline": key + "\nx", "space": f" {key} ", "text": draw(st.text(max_size=6)),
        "chop": key[: len(key) // 2],
    }[edit]


@st.composite
def set_case(draw: st.DrawFn) -> Case:
    """``--set KEY=VALUE`` lists over real config paths, with YAML-scalar and junk values."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.sampled_from([True, True, False])):  # a well-typed item: runs to the end
            key = draw(st.sampled_from(SET_KEYS))
            items.append(f"--set={key}={draw(st.sampled_from(SET_VALUES[key]))}")
            continue
        key = draw(_set_key())
        good = st.sampled_from(SET_VALUES.get(key, _INTS))
        value = draw(st.one_of(good, _YAML_VALUES, st.text(max_size=6)))
        sep = draw(st.sampled_from(["="] * 6 + ["", "==", " = "]))
        items.append(f"--set={key}{sep}{value}")
    extra: list[str] = []
    if rarely(draw, 4):
        extra.append("--sparsity=" + draw(st.sampled_from(
            ["2:4", "2:8", "2:16", "1:64", "3\n:2", "0:4", "dense", "1:1", "x", HUGE, ""])))
    if rarely(draw, 4):
        extra.append("--method=" + draw(st.sampled_from(["bdwp", "srste", "dense"])))
    dataflow = draw(st.sampled_from([[], ["--dataflow", str(_DATAFLOWS["naive"])]]))
    return Case(((_TINY, TINY_CSV),), ("--workload", _TINY, "--hw", HW_FILE, *dataflow, *items,
                                       *extra), draw(st.booleans()), ())


# ---------------------------------------------------------------- nested YAML documents
# Schedule files and sweep specs nest mappings in lists (ops, parts, axes): their trees keep
# lists, and any mapping or list in them can be mutated.


def yaml_tree(value: Any) -> Any:
    """Parsed YAML -> Obj (mappings, keys may repeat), lists, Raw scalars."""
    if isinstance(value, dict):
        return Obj([(str(k), yaml_tree(v)) for k, v in value.items()])
    if isinstance(value, list):
        return [yaml_tree(v) for v in value]
    return yaml_scalar(value)


def to_flow(value: Any) -> str:
    """A tree as one line of flow YAML."""
    if isinstance(value, Obj):
        return "{" + ", ".join(f"{_key_text(k)}: {to_flow(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_flow(v) for v in value) + "]"
    return value.text


def to_block(value: Any, indent: int = 0) -> str:
    """A tree as block YAML: mappings and lists one item a line, as satsim writes them."""
    pad = " " * indent
    if isinstance(value, Obj) and value.pairs:
        return "".join(
            f"{pad}{_key_text(k)}:\n{to_block(v, indent + 2)}" if _nonempty(v)
            else f"{pad}{_key_text(k)}: {to_flow(v)}\n" for k, v in value.pairs)
    if isinstance(value, list) and value:
        return "".join(
            f"{pad}- {to_block(v, indent + 2)[indent + 2:]}" if _nonempty(v)
            else f"{pad}- {to_flow(v)}\n" for v in value)
    return f"{pad}{to_flow(value)}\n"


def _nonempty(value: Any) -> bool:
    return bool(value.pairs) if isinstance(value, Obj) else isinstance(value, list) and bool(value)


def _containers(node: Any) -> list[Any]:
    """``node`` and every mapping and list inside it."""
    children = [v for _, v in node.pairs] if isinstance(node, Obj) else node
    found = [node]
    for child in children:
        if isinstance(child, Obj | list):
            found += _containers(child)
    return found


UNKNOWN_KEYS = ["foo", "Foo", "x-note", "extra", "_", "<<"]


def mutate_tree(draw: st.DrawFn, root: Obj, keys: list[str],
                values: st.SearchStrategy[Any]) -> None:
    """One structural edit of any mapping or list in ``root``: a key set (to a value of
    ``values``), deleted, duplicated, renamed or added unknown; a list item set, deleted,
    inserted, copied or swapped with another."""
    nodes = _containers(root)
    node = nodes[index(draw, len(nodes))]
    if isinstance(node, Obj):
        present = node.keys()
        op = draw(st.sampled_from(["set"] * 3 + ["delete", "duplicate", "rename", "unknown"]))
        if op == "set" or not present:
            key = draw(st.sampled_from(present) if present and draw(st.booleans())
                       else st.sampled_from(keys))
            node.pairs = [(k, v) for k, v in node.pairs if k != key] + [(key, draw(values))]
            return
        i = index(draw, len(present))
        key, value = node.pairs[i]
        if op == "delete":
            del node.pairs[i]
        elif op == "duplicate":  # the same key twice in one mapping
            node.pairs.append((key, draw(st.just(value) | values)))
        elif op == "rename":
            new = draw(st.sampled_from([key.upper(), key + "s", f"{key}\n", " " + key, key[:-1]])
                       | st.sampled_from(keys))
            node.pairs[i] = (new or "_", value)
        else:
            name = draw(st.sampled_from(UNKNOWN_KEYS) | st.text(min_size=1, max_size=4))
            node.pairs.insert(i, (name, draw(values)))
        return
    op = draw(st.sampled_from(["set", "set", "delete", "insert", "copy", "swap"]))
    i, j = index(draw, len(node) + 1), index(draw, len(node) + 1)
    if op == "insert" or not node:
        node.insert(i, draw(values))
    elif op == "set" and i < len(node):
        node[i] = draw(values)
    elif op == "delete" and i < len(node):
        del node[i]
    elif op == "copy" and i < len(node):
        node.insert(j, copy.deepcopy(node[i]))
    elif op == "swap" and i < len(node) and j < len(node):
        node[i], node[j] = node[j], node[i]


def _raws(texts: list[str]) -> st.SearchStrategy[Raw]:
    return st.sampled_from(texts).map(Raw)


def _document(draw: st.DrawFn, tree: Obj, original: str) -> str:
    """The mutated tree as block (mostly) or flow YAML; sometimes the original text as it was
    written (for the byte mutations alone), or odd documents around it."""
    if rarely(draw, 4):
        text = original
    else:
        text = to_flow(tree) + "\n" if rarely(draw, 5) else to_block(tree)
    if rarely(draw, 12):
        text = draw(st.sampled_from(YAML_DOCS))
    if rarely(draw, 8):
        text = draw(st.sampled_from(YAML_PREFIXES)) + text
    if rarely(draw, 8):
        text += draw(st.sampled_from(YAML_SUFFIXES))
    return text


# ---------------------------------------------------------------- schedule files


def _made_schedule(hardware: str) -> str:
    """What ``satsim schedule --out`` writes for the tiny CSV workload on ``hardware``."""
    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / _TINY
        workload.write_bytes(TINY_CSV)
        return schedule(workload, hardware, DF_FILE).to_yaml()


# Made once, at import: on the small array (ideal memory: no tiles), and on SAT (tiles).
SCHEDULES = {hw: _made_schedule(hw) for hw in (HW_FILE, str(_CONFIGS["sat"]))}
SCHEDULE_TREES = {hw: yaml_tree(yaml.safe_load(text)) for hw, text in SCHEDULES.items()}
# Each input's SHA-256 as either schedule names it: one moved to another input is a mismatch.
_HASHES = sorted({made["sha256"] for text in SCHEDULES.values()
                  for made in yaml.safe_load(text)["made_for"].values()})
SCHEDULE_KEYS = ["format", "version", "made_for", "workload", "hardware", "dataflow", "name",
                 "sha256", "cycles", "order", "orders_tried", "trace order", "issue_order",
                 "ops", "record", "stationarity", "parts", "tile", "loop", "chunk"]
# Values of the right kind (edge sizes, indices around the two records) and of every wrong
# one: bools for ints, strings for tiles, out-of-range indices, huge ints, nested junk.
SCHEDULE_TOKENS = [
    "0", "1", "2", "3", "-1", "8", "16", "64", "128", "4864", str(2**31), str(2**63),
    str(2**64), BIG, HUGE, "-" + HUGE, "1.0", "1.5", "1.0e+400", ".nan", "true", "false", "~",
    "''", "'0'", "os", "ws", "is", "OS", "xs", "n-outer", "m-outer", "sideways",
    "satsim.schedule", "satsim.trace", "trace order", "side work last", "tiny", "sat",
    *_HASHES, "[]", "{}", "[0, 1]",
    "[1, 0]", "[0, 0]", "[0, 1, 2]", "[0, 1, 1]", "[0, true]", "[0, '1']", "[0, [1]]",
    "[0, {a: 1}]", "[0, 1.0]", "[8, 8, 8]", "[64, 256, 128]", "[32, 64, 16]", "[0, 8, 8]",
    "[8, 8]", "[8, 8, 8, 8]", "['8', 8, 8]", "[true, 8, 8]", "[8.0, 8, 8]", f"[{HUGE}, 8, 8]",
    "8x8x8", "{tile: [8, 8, 8], loop: n-outer}", "[{tile: [32, 64, 16], loop: m-outer}]",
    "[{tile: [8, 8, 8]}]", "[[8, 8, 8]]", "{record: 0, chunk: 4}", "{record: 1, chunk: 0}",
    "{record: 1, stationarity: os, parts: []}", "{record: 5, stationarity: ws}",
    "[{record: 0, stationarity: os}]", "{name: x, sha256: 0}", "{name: [x], sha256: {}}",
    "{trace order: 1}", "{trace order: x}", "{[1]: 2}", "{? [1, 2] : 3}", nested(1000),
    nested(1000, "{a: ", "}"), "*undefined", "!!binary aGVsbG8=", "!!set {a, b}",
    "!!python/object:os.system {}", "2001-12-14", "190:20:30",
]
SCHEDULE_VALUES = _raws(SCHEDULE_TOKENS) | _raws(YAML_SCALARS) | _YAML_VALUES.map(Raw)


@st.composite
def schedule_case(draw: st.DrawFn) -> Case:
    """A schedule ``satsim schedule`` wrote for the tiny CSV workload, mutated key by key,
    item by item and byte by byte, then run with ``satsim run --schedule``."""
    hardware = draw(st.sampled_from(list(SCHEDULES)))
    tree = copy.deepcopy(SCHEDULE_TREES[hardware])
    for _ in range(draw(st.integers(0, 4))):
        mutate_tree(draw, tree, SCHEDULE_KEYS, SCHEDULE_VALUES)
    text = _document(draw, tree, SCHEDULES[hardware])
    return _schedule(_finish(draw, text), hardware, draw(st.booleans()))


def _schedule(data: bytes, hardware: str = HW_FILE, json_out: bool = False,
              bad: bool = False) -> Case:
    return Case((("s.yaml", data), (_TINY, TINY_CSV)),
                ("--workload", _TINY, "--hw", hardware, "--dataflow", DF_FILE, "--schedule",
                 "s.yaml"), json_out, ("s.yaml",), bad=bad)


# ---------------------------------------------------------------- sweep specs

# Axes over the tiny CSV on the small array: a config path by values, range, random draws
# and zip; sparsity; method. Few values each, so that a valid spec runs in a second.
SWEEP_AXES = [
    {"path": "sparsity", "values": ["2:4", "2:8"]},
    {"path": "method", "values": ["bdwp", "srste"]},
    {"path": "array.rows", "values": [4, 8]},
    {"path": "array.cols", "range": {"start": 4, "stop": 8, "step": 4}},
    {"path": "vector.lanes", "random": {"low": 2, "high": 16, "count": 2, "integer": True}},
    {"path": "clock_mhz", "random": {"low": 100.0, "high": 400.0, "count": 2, "log": True}},
    {"zip": {"array.rows": [4, 8], "array.cols": [8, 4]}},
    {"path": "dataflow.interleave", "values": [True, False]},
]
SWEEP_KEYS = ["name", "hardware", "dataflow", "workloads", "axes", "baseline", "seed", "sample",
              "batch_size", "path", "values", "range", "random", "zip", "start", "stop", "step",
              "low", "high", "count", "integer", "log", "array.rows", "sparsity"]
# No integers between 16 and the limits here: a valid spec of a million points is not a
# parser's problem, but it would run for hours.
SWEEP_TOKENS = [
    "0", "1", "2", "3", "4", "8", "16", "-1", "-8", "0.5", "1.5", "true", "false", "~", "''",
    str(10**7), str(2**31), str(2**63), str(10**30), BIG, HUGE, "-" + HUGE, "1.0e+400", ".inf",
    ".nan", "2:4", "2:8", "'2:4'", "'2:8'", "'1:16'", "'9:8'", "'2:128'", "'4:2'", "dense",
    "magic", "bdwp", "srste", "BDWP", "fuzz", "sat-small", "sat", "naive", "plain", "nope",
    "tiny.csv", "missing.csv", "/", "array.rows", "array.cols", "array", "sparsity", "method",
    "workload", "dataflow.interleave", "dataflow.nope", "vector.lanes", "array.x", "x.y", "[]",
    "{}", "[4, 8]", "[8]", "[4, 4]", "[0]", "[-1]", f"[{10**30}]", f"[{HUGE}]", "[1.0e+400]",
    "['2:4', '2:8']", "[2:8]", "[bdwp, magic]", "[dense, srste]", "[tiny.csv, tiny.csv]",
    "[tiny.csv, missing.csv]", "[[4]]", "[{a: 1}]", "{start: 4, stop: 8, step: 4}",
    "{start: 8, stop: 4}", "{start: 4, stop: 8, step: 0}", "{start: 1, stop: 100000000}",
    "{start: 4, stop: 8, step: 0.5}", "{low: 2, high: 8, count: 2, integer: true}",
    "{low: 0, high: 8, count: 2, log: true}", "{low: 1, high: 2, count: 100000000}",
    "{array.rows: [4, 8], array.cols: [4]}", "{array.rows: [4], sparsity: ['2:4']}",
    "{path: array.rows, values: [4]}", "[{path: sparsity, values: ['2:4']}]",
    "[{path: method, values: [magic]}]", "[{path: array.rows, values: [4]}, "
    "{path: array.rows, values: [8]}]", nested(1000), nested(1000, "{a: ", "}"), "*undefined",
    "!!binary aGVsbG8=", "!!python/object:os.system {}", "2001-12-14", "190:20:30",
]
SWEEP_VALUES = _raws(SWEEP_TOKENS) | st.text(max_size=8).map(json.dumps).map(Raw)


@st.composite
def sweep_case(draw: st.DrawFn) -> Case:
    """A small sweep spec (the tiny CSV on the small array, 1-3 axes, perhaps sampled),
    mutated key by key, item by item and byte by byte, then run with ``satsim sweep SPEC
    --out OUT --workers 1``."""
    axes = draw(st.lists(st.sampled_from(range(len(SWEEP_AXES))), min_size=1, max_size=3,
                         unique=True))
    spec: dict[str, Any] = {"name": "fuzz", "hardware": "sat-small", "dataflow": "sat",
                            "workloads": [_TINY], "axes": [SWEEP_AXES[i] for i in axes]}
    if draw(st.booleans()):
        spec["seed"] = draw(st.integers(0, 9))
    if rarely(draw, 3):
        spec["sample"] = draw(st.integers(1, 3))
    if rarely(draw, 3):
        spec["baseline"] = False
    tree = yaml_tree(spec)
    for _ in range(draw(st.integers(0, 4))):
        mutate_tree(draw, tree, SWEEP_KEYS, SWEEP_VALUES)
    return _sweep(_finish(draw, _document(draw, tree, to_block(yaml_tree(spec)))))


def _sweep(text: str | bytes, bad: bool = False) -> Case:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return Case((("spec.yaml", data), (_TINY, TINY_CSV)),
                ("spec.yaml", "--out", OUT, "--workers", "1"), False, ("spec.yaml",), "sweep",
                bad)


STRATEGIES: dict[str, st.SearchStrategy[Case]] = {
    "trace": trace_case(), "hw": yaml_case("--hw"), "dataflow": yaml_case("--dataflow"),
    "csv": csv_case(), "set": set_case(), "schedule": schedule_case(), "sweep": sweep_case()}


# ---------------------------------------------------------------- fixed edge inputs

def _trace(text: str | bytes, json_out: bool = False) -> Case:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return Case((("w.jsonl", data),), ("--workload", "w.jsonl", "--hw", HW_FILE), json_out,
                ("w.jsonl",))


def _yaml(text: str | bytes, json_out: bool = False, option: str = "--hw",
          bad: bool = False) -> Case:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    other = ["--dataflow", DF_FILE] if option == "--hw" else ["--hw", HW_FILE]
    return Case((("f.yaml", data), (_TINY, TINY_CSV)),
                ("--workload", _TINY, option, "f.yaml", *other), json_out, ("f.yaml",), bad=bad)


def _dataflow(text: str | bytes) -> Case:
    """A bad dataflow file."""
    return _yaml(text, option="--dataflow", bad=True)


def _csv(text: str | bytes, json_out: bool = False) -> Case:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return Case((("w.csv", data),), ("--workload", "w.csv", "--hw", HW_FILE), json_out,
                ("w.csv",))


def _set(*items: str, json_out: bool = False) -> Case:
    return Case(((_TINY, TINY_CSV),), ("--workload", _TINY, "--hw", HW_FILE, *items), json_out)


def _bad_schedule(text: str | bytes, hardware: str = HW_FILE) -> Case:
    return _schedule(text if isinstance(text, bytes) else text.encode(), hardware, bad=True)


def _bad_sweep(text: str | bytes) -> Case:
    return _sweep(text, bad=True)


_HEADER = '{"format":"satsim.trace","version":1,"name":"x"}\n'
_END = '{"kind":"end","records":%s}\n'
_GEMM = '{"kind":"gemm","phase":"FF","layer":"fc","M":%s,"K":%s,"N":%s,"weight":"B"%s}\n'
_HW_TEXT = Path(HW_FILE).read_text()
_DF_TEXT = Path(DF_FILE).read_text()
_SCHEDULE = SCHEDULES[HW_FILE]
_TILED = str(_CONFIGS["sat"])
_TILED_SCHEDULE = SCHEDULES[_TILED]
_SPEC = f"""name: fuzz
hardware: sat-small
workloads: [{_TINY}]
axes:
  - path: sparsity
    values: ['2:4', '2:8']
  - path: array.rows
    values: [4, 8]
"""
# One input per class of hard input the strategies aim at, tested always: the random search
# may need thousands of examples to hit one.
EDGE_CASES: dict[str, list[tuple[str, Case]]] = {
    "trace": [
        ("non-utf8", _trace(b"\xff" + _HEADER.encode() + (_END % 0).encode())),
        ("deep-nesting", _trace(_HEADER + nested(100_000) + "\n" + _END % 0)),
        ("5000-digit-int", _trace(_HEADER + _END % HUGE)),
        ("newline-in-field-name", _trace(_HEADER.replace('"x"}', '"x","a\\nb":1}') + _END % 0)),
        ("newline-in-end-count", _trace(_HEADER + _END % '"a\\nb"')),
        ("newline-in-sparsity",
         _trace(_HEADER + _GEMM % (8, 8, 8, ',"sparsity":"3\\n:2"') + _END % 1)),
        ("4000-digit-M", _trace(_HEADER + _GEMM % (BIG, 8, 8, "") + _END % 1, json_out=True)),
        ("4000-digit-K-sparse",
         _trace(_HEADER + _GEMM % (8, BIG, 8, ',"sparsity":"2:4"') + _END % 1)),
    ],
    "hw": [
        ("non-utf8", _yaml(_HW_TEXT.encode() + b"# \xff\n")),
        ("deep-nesting", _yaml(_HW_TEXT + "x: " + nested(100_000) + "\n")),
        ("5000-digit-int", _yaml(_HW_TEXT.replace("rows: 8", "rows: " + HUGE))),
        ("bad-timestamp-tag", _yaml(_HW_TEXT.replace("memory: ideal", "memory: !!timestamp x"))),
        ("python-tag",
         _yaml(_HW_TEXT.replace("memory: ideal", "memory: !!python/object:os.system {}"))),
        ("newline-in-key", _yaml(_HW_TEXT + '"a\\nb": 1\n')),
        ("billion-laughs",
         _yaml(LAUGHS + _HW_TEXT.replace("array: {rows: 8, cols: 8}", "array: *l8"))),
        ("subnormal-clock",
         _yaml(_HW_TEXT.replace("clock_mhz: 200", "clock_mhz: 1.0e-320"), json_out=True)),
    ],
    "dataflow": [
        ("non-utf8", _dataflow(_DF_TEXT.encode() + b"# \xff\n")),
        ("binary", _dataflow(bytes(range(256)))),
        ("deep-nesting", _dataflow(_DF_TEXT + "x: " + nested(100_000) + "\n")),
        ("unknown-key", _dataflow(_DF_TEXT + "foo: 1\n")),
        ("duplicate-key", _dataflow(_DF_TEXT + "interleave: false\n")),
        ("int-for-bool", _dataflow(_DF_TEXT.replace("interleave: true", "interleave: 1"))),
        ("bad-phase", _dataflow(_DF_TEXT.replace("stationarity: auto", "stationarity: {XX: ws}"))),
        ("python-tag", _dataflow(_DF_TEXT.replace("pregenerate: true",
                                                  "pregenerate: !!python/object:os.system {}"))),
    ],
    "csv": [
        ("4000-digit-M", _csv(f"name,M,K,N\nfc,{BIG},4,4\n", json_out=True)),
        ("4000-digit-K-sparse", _csv(f"name,M,K,N,sparsity\nfc,4,{BIG},4,2:4\n")),
        ("newline-in-sparsity", _csv('name,M,K,N,sparsity\nfc,4,4,4,"3\n:2"\n')),
        ("newline-in-header", _csv('name,M,"K\nx",N\nfc,4,x,4\n')),
        ("non-utf8", _csv(b"name,M,K,N\nf\xff,4,4,4\n")),
        ("huge-field", _csv("name,M,K,N\n" + "x" * 200_000 + ",4,4,4\n")),
        ("4000-digit-ifmap", _csv("Layer name, IFMAP Height, IFMAP Width, Filter Height, "
                                  "Filter Width, Channels, Num Filter, Strides,\n"
                                  f"c,{BIG},{BIG},3,3,16,32,2,\n")),
    ],
    "set": [
        ("deep-nesting", _set("--set=array.rows=" + nested(5000))),
        ("5000-digit-int", _set("--set=array.rows=" + HUGE)),
        ("bad-timestamp-tag", _set("--set=array.rows=!!timestamp x")),
        ("newline-in-key", _set("--set=array.rows\nx=1")),
        ("subnormal-clock", _set("--set=clock_mhz=1.0e-320", json_out=True)),
        ("newline-in-sparsity", _set("--sparsity=3\n:2")),
    ],
    "schedule": [
        ("binary", _bad_schedule(bytes(range(256)) * 4)),
        ("non-utf8", _bad_schedule(_SCHEDULE.encode() + b"# \xff\n")),
        ("unknown-key", _bad_schedule(_SCHEDULE + "foo: 1\n")),
        ("unknown-key-in-op",
         _bad_schedule(_SCHEDULE.replace("- record: 0\n", "- record: 0\n  foo: 1\n"))),
        ("unknown-key-in-part", _bad_schedule(
            _TILED_SCHEDULE.replace("loop: n-outer", "loop: n-outer\n    foo: 1", 1), _TILED)),
        ("duplicate-key", _bad_schedule(_SCHEDULE + "cycles: 1\n")),
        ("5000-digit-int", _bad_schedule(re.sub(r"cycles: \d+", f"cycles: {HUGE}", _SCHEDULE))),
        ("bool-for-int", _bad_schedule(_SCHEDULE.replace("record: 0", "record: false"))),
        ("string-tile", _bad_schedule(
            re.sub(r"tile: \[[^]]*\]", "tile: '8x8x8'", _TILED_SCHEDULE), _TILED)),
        ("deep-nesting", _bad_schedule(
            re.sub(r"issue_order: .*", "issue_order: " + nested(100_000), _SCHEDULE))),
        ("missing-issue-order", _bad_schedule(re.sub(r"issue_order: .*\n", "", _SCHEDULE))),
    ],
    "sweep": [
        ("binary", _bad_sweep(bytes(range(256)) * 4)),
        ("non-utf8", _bad_sweep(_SPEC.encode() + b"# \xff\n")),
        ("unknown-key", _bad_sweep(_SPEC + "foo: 1\n")),
        ("unknown-key-in-axis", _bad_sweep(
            _SPEC.replace("  - path: sparsity\n", "  - path: sparsity\n    foo: 1\n"))),
        ("5000-digit-int", _bad_sweep(_SPEC + f"seed: {HUGE}\n")),
        ("deep-nesting", _bad_sweep(_SPEC.replace("[4, 8]", nested(100_000)))),
        # The list (#22, item 2).
        ("unknown-method", _bad_sweep(_SPEC + "  - path: method\n    values: [magic]\n")),
        ("axis-value-1e30", _bad_sweep(_SPEC.replace("[4, 8]", f"[4, {10**30}]"))),
        ("negative-seed", _bad_sweep(_SPEC + "seed: -1\n")),
        ("duplicate-axis-path", _bad_sweep(_SPEC + "  - path: array.rows\n    values: [16]\n")),
        ("sample-beyond-grid", _bad_sweep(_SPEC + "sample: 100\n")),
        ("unquoted-2:8", _bad_sweep(_SPEC.replace("'2:8'", "2:8"))),
    ],
}
