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

Schedules are also cached on disk (:mod:`satsim.search.cache`), so the search runs once per
design point.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.files import write_text
from satsim.schedule.hazards import dependencies
from satsim.trace.schema import MAX_DIM, Dim, Trace
from satsim.types import Stationarity
from satsim.yaml_input import first_problem, parse_yaml

FORMAT, VERSION = "satsim.schedule", 1
# libyaml's safe dumper where PyYAML has it (a ResNet-50 schedule: 10x faster).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOOPS = {"n-outer": True, "m-outer": False}
MAX_CYCLES = 2**63 - 1  # an int64, as results store cycles


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
    return {"workload": {"name": trace.name, "sha256": sha256_of(trace.model_dump_json())},
            "hardware": {"name": hw.name, "sha256": sha256_of(timing_json(hw))},
            "dataflow": {"name": policy.name, "sha256": sha256_of(policy.model_dump_json())}}


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# The file's structure, checked strictly (a bool is not an int, an unknown key is an error);
# :func:`parse_schedule` then checks it against the run.
Index = Annotated[int, Strict(), Field(ge=0, le=MAX_DIM)]  # a record's; its range: parse_schedule's
Cycles = Annotated[int, Strict(), Field(ge=0, le=MAX_CYCLES)]


def _one_of(allowed: Collection[object], why: str) -> AfterValidator:
    """A value of ``allowed``, else ``why`` (the file's words, not pydantic's)."""
    def check(value: object) -> object:
        if value not in allowed:
            raise ValueError(why)
        return value

    return AfterValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Input(_Strict):
    name: str
    sha256: str


class _MadeFor(_Strict):
    workload: _Input
    hardware: _Input
    dataflow: _Input


class _Part(_Strict):
    tile: list[Dim] = Field(min_length=3, max_length=3)  # [mt, kt, nt]
    loop: Annotated[str, _one_of(LOOPS, "must be n-outer or m-outer")]


class _Op(_Strict):
    """A GEMM's choice (stationarity and parts) or a stream's (chunk)."""

    record: Index
    stationarity: Annotated[str, _one_of([s.value for s in Stationarity],
                                         "must be os, ws (or is in SCALE-Sim's conventions)")
                            ] | None = None
    parts: list[_Part] = []
    chunk: Dim | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> _Op:
        stream = self.chunk is not None
        if stream == (self.stationarity is not None) or (stream and self.parts):
            raise ValueError("a GEMM's choice has a stationarity (and parts), a stream's a "
                             "chunk")
        return self


class _File(_Strict):
    format: Literal["satsim.schedule"]
    version: Annotated[int, Strict(), _one_of([VERSION], f"must be {VERSION}")]
    made_for: _MadeFor
    cycles: Cycles = 0
    order: str = "from file"
    orders_tried: dict[str, Cycles] = {}
    issue_order: list[Index]
    ops: list[_Op] = []


def read_schedule(path: str | Path, trace: Trace, hw: HardwareConfig,
                  policy: DataflowPolicy) -> Schedule:
    """The schedule in ``path``, checked against the run it is for (one error naming the
    file and the field otherwise)."""
    doc = parse_yaml(Path(path))
    return replace(parse_schedule(doc, str(path), trace, hw, policy), source=str(path))


def parse_schedule(doc, source: str, trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
           expected: dict | None = None) -> Schedule:
    def fail(where: str, why: str):
        raise SatsimError(why, source=source, field=where)

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        fail("format", f"not a satsim schedule (format: {FORMAT})")
    try:
        file = _File.model_validate(doc)
    except ValidationError as exc:
        where, why = first_problem(exc)
        fail("".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where)[1:], why)
    made_for, expected = file.made_for.model_dump(), expected or fingerprint(trace, hw, policy)
    for what, want in expected.items():
        got = made_for[what]
        if got["sha256"] != want["sha256"]:
            fail(f"made_for.{what}", f"made for {what} {got['name']!r} with another content, "
                                     f"not for this run's {want['name']!r}: make one with "
                                     "satsim schedule for this run")
    count = len(trace.records)
    order = file.issue_order
    if sorted(order) != list(range(count)):
        fail("issue_order", f"must list every record index 0..{count - 1} once")
    at = {index: position for position, index in enumerate(order)}
    for index, deps in dependencies(trace, range(count)).items():
        early = [d for d in deps if at[d] > at[index]]
        if early:
            fail("issue_order", f"record {index} comes before record {min(early)}, which it "
                                "depends on in the tensor graph")
    ops: dict[int, GemmChoice | int] = {}
    for position, op in enumerate(file.ops):
        where = f"ops[{position}].record"
        if op.record >= count:
            fail(where, f"must be a record index 0..{count - 1}")
        if op.record in ops:
            fail(where, f"a second choice for record {op.record}")
        ops[op.record] = op.chunk if op.chunk is not None else GemmChoice(
            Stationarity(op.stationarity),
            tuple((tuple(part.tile), LOOPS[part.loop]) for part in op.parts))
    return Schedule(made_for, file.order, dict(file.orders_tried), tuple(order), ops,
                    file.cycles)


def write_schedule(schedule: Schedule, path: str | Path) -> None:
    write_text(path, schedule.to_yaml())
