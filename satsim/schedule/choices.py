"""The offline scheduler's decisions as a file: ``satsim schedule --out FILE``, then
``satsim run --schedule FILE``.

A schedule holds what the scheduler chose for one workload on one machine under one
dataflow: the records' issue order (and the name and cycles of every candidate it timed),
each GEMM's stationarity and, per part of its mapping, the tile size ``[mt, kt, nt]`` and the
loop order (``n-outer``: a B tile stays on chip while the A tiles stream; ``m-outer``: the
reverse), and each streamed op's chunk size. Reusing it skips the search and gives the same
cycles; a hand edit that stays valid (an order the tensor graph allows, a tile or chunk
size of the ladders that fits the buffers, a stationarity the array runs) changes the run as
the edit says; a record the file leaves out of ``ops`` is chosen by the scheduler. A
schedule names the SHA-256 of the workload, hardware and dataflow it was made for and is
rejected for any other.

Schedules are also cached on disk by the hash of those inputs and of satsim's scheduling
code (``$SATSIM_CACHE_DIR``, default ``~/.cache/satsim``; ``off`` disables it), so the search
runs once per design point.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from satsim import __version__
from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.trace.schema import Trace
from satsim.types import Stationarity

FORMAT, VERSION = "satsim.schedule", 1
# libyaml's safe dumper and loader where PyYAML has them (a ResNet-50 schedule: 10x faster).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LOOPS = {"n-outer": True, "m-outer": False}


@dataclass(frozen=True)
class GemmChoice:
    """A GEMM's stationarity and, per part, its tile size ``(mt, kt, nt)`` and loop order
    (``n_outer``); no parts on ideal memory (no tiles)."""

    stationarity: Stationarity
    parts: tuple[tuple[tuple[int, int, int], bool], ...] = ()


@dataclass(frozen=True)
class Schedule:
    """See the module. ``ops``: per record index, a :class:`GemmChoice` or a chunk size."""

    inputs: dict[str, dict[str, str]]  # workload / hardware / dataflow: name, sha256
    order_name: str
    tried: dict[str, int]
    order: tuple[int, ...]
    ops: dict[int, GemmChoice | int] = field(default_factory=dict)
    cycles: int = 0  # what the run took when the schedule was made (the file's reader)
    source: str = ""  # the file it was read from

    def error(self, index: int, where: str, why: str) -> SatsimError:
        """A choice for record ``index`` that cannot be applied."""
        field = f"ops (record {index})" + (f".{where}" if where else "")
        return SatsimError(why, source=self.source or "schedule", field=field)

    def to_yaml(self) -> str:
        header = ("# satsim offline schedule: the issue order of the records, each GEMM's "
                  "stationarity (os|ws),\n# tile size [mt, kt, nt] and loop order "
                  "(n-outer|m-outer) per part, each stream's chunk\n# size. Edit it and "
                  "run it with satsim run --schedule FILE; made_for must match the run.\n")
        return header + yaml.dump(self.to_doc(), Dumper=_DUMPER, sort_keys=False, width=100,
                                  default_flow_style=None)

    def to_doc(self) -> dict:
        """The file's content (YAML for people, JSON in the cache)."""
        ops = []
        for index, choice in self.ops.items():
            if isinstance(choice, GemmChoice):
                ops.append({"record": index, "stationarity": choice.stationarity.value,
                            "parts": [{"tile": list(size),
                                       "loop": "n-outer" if n_outer else "m-outer"}
                                      for size, n_outer in choice.parts]})
            else:
                ops.append({"record": index, "chunk": choice})
        return {"format": FORMAT, "version": VERSION, "made_for": self.inputs,
                "cycles": self.cycles, "order": self.order_name, "orders_tried": self.tried,
                "issue_order": list(self.order), "ops": ops}


def timing_json(hw: HardwareConfig) -> str:
    """The hardware as the schedule sees it: everything but its energy table, which prices
    a run and changes no choice."""
    return hw.model_dump_json(exclude={"energy"})


def fingerprint(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> dict:
    """The name and SHA-256 of each input a schedule is made for."""
    return {"workload": {"name": trace.name, "sha256": _sha(trace.model_dump_json())},
            "hardware": {"name": hw.name, "sha256": _sha(timing_json(hw))},
            "dataflow": {"name": policy.name, "sha256": _sha(policy.model_dump_json())}}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_schedule(path: str | Path, trace: Trace, hw: HardwareConfig,
                  policy: DataflowPolicy) -> Schedule:
    """The schedule in ``path``, checked against the run it is for (one error naming the
    file and the field otherwise)."""
    source = str(path)
    try:
        doc = yaml.load(Path(path).read_text(), Loader=_LOADER)
    except OSError as exc:
        raise SatsimError(f"cannot read it: {exc.strerror}", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SatsimError(f"not YAML: {getattr(exc, 'problem', None) or exc}{where}",
                          source=source) from None
    return replace(_parse(doc, source, trace, hw, policy), source=source)


def _parse(doc, source: str, trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
           expected: dict | None = None) -> Schedule:
    def fail(where: str, why: str):
        raise SatsimError(why, source=source, field=where)

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        fail("format", f"not a satsim schedule (format: {FORMAT})")
    if doc.get("version") != VERSION:
        fail("version", f"version {doc.get('version')!r} is not {VERSION}")
    made_for, expected = doc.get("made_for"), expected or fingerprint(trace, hw, policy)
    for what, want in expected.items():
        got = made_for.get(what) if isinstance(made_for, dict) else None
        if not isinstance(got, dict) or got.get("sha256") != want["sha256"]:
            name = got.get("name") if isinstance(got, dict) else None
            fail(f"made_for.{what}", f"made for {what} {name!r} with another content, not "
                                     f"for this run's {want['name']!r}: make one with "
                                     "satsim schedule for this run")
    count = len(trace.records)
    order = doc.get("issue_order")
    if not isinstance(order, list) or sorted(order) != list(range(count)):
        fail("issue_order", f"must list every record index 0..{count - 1} once")
    from satsim.schedule.plain import dependencies  # plain reads schedules: import here
    at = {index: position for position, index in enumerate(order)}
    for index, deps in dependencies(trace, range(count)).items():
        early = [d for d in deps if at[d] > at[index]]
        if early:
            fail("issue_order", f"record {index} comes before record {min(early)}, which it "
                                "depends on in the tensor graph")
    ops: dict[int, GemmChoice | int] = {}
    for at, item in enumerate(doc.get("ops") or []):
        where = f"ops[{at}]"
        if not isinstance(item, dict) or not isinstance(item.get("record"), int) or not (
                0 <= item["record"] < count):
            fail(f"{where}.record", f"must be a record index 0..{count - 1}")
        index = item["record"]
        if "chunk" in item:
            if not isinstance(item["chunk"], int) or item["chunk"] < 1:
                fail(f"{where}.chunk", "must be a positive number of units")
            ops[index] = item["chunk"]
            continue
        try:
            stationarity = Stationarity(item.get("stationarity"))
        except ValueError:
            fail(f"{where}.stationarity", "must be os, ws (or is in SCALE-Sim's conventions)")
        parts = []
        for p, part in enumerate(item.get("parts") or []):
            tile = part.get("tile") if isinstance(part, dict) else None
            if not (isinstance(tile, list) and len(tile) == 3
                    and all(isinstance(x, int) and x > 0 for x in tile)):
                fail(f"{where}.parts[{p}].tile", "must be [mt, kt, nt], positive integers")
            if part.get("loop") not in LOOPS:
                fail(f"{where}.parts[{p}].loop", "must be n-outer or m-outer")
            parts.append((tuple(tile), LOOPS[part["loop"]]))
        ops[index] = GemmChoice(stationarity, tuple(parts))
    return Schedule(made_for, str(doc.get("order", "from file")),
                    dict(doc.get("orders_tried") or {}), tuple(order), ops,
                    int(doc.get("cycles") or 0))


def write_schedule(schedule: Schedule, path: str | Path) -> None:
    from satsim.files import write_text
    write_text(path, schedule.to_yaml())


# The disk cache. Its key covers the code that makes schedules, so a changed scheduler
# never reuses an old choice.
_CODE = ("schedule", "timing", "mapping")


def _cache_dir() -> Path | None:
    where = os.environ.get("SATSIM_CACHE_DIR", "")
    if where == "off":
        return None
    return Path(where) if where else Path.home() / ".cache" / "satsim"


@functools.cache
def _code_hash() -> str:
    """The hash of satsim's scheduling code, read once per process."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    for package in _CODE:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_path(inputs: dict) -> Path | None:
    """Where the schedule of these inputs (a :func:`fingerprint`) is cached (None: caching
    off)."""
    folder = _cache_dir()
    if folder is None:
        return None
    key = _sha(_code_hash() + "".join(v["sha256"] for v in inputs.values()))
    return folder / "schedules" / f"{key}.json"


def cached(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
           inputs: dict) -> Schedule | None:
    """The cached schedule of these inputs (``inputs``: their :func:`fingerprint`), if any
    (an unreadable entry counts as none)."""
    path = _cache_path(inputs)
    if path is None or not path.is_file():
        return None
    try:
        return _parse(json.loads(path.read_text()), str(path), trace, hw, policy, inputs)
    except (OSError, ValueError, SatsimError):
        return None


def cache(schedule: Schedule) -> None:
    """Store ``schedule`` under the inputs it names; a cache that cannot be written is
    skipped (it only saves time)."""
    path = _cache_path(schedule.inputs)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_text(json.dumps(schedule.to_doc(), separators=(",", ":")))
        partial.replace(path)
    except OSError:
        pass
