"""Read and write trace files (JSON lines), with errors that name the file and the line.

Version 2 writes the header, the tensor table, the records and an end record with both
counts; version 1 files (no tensor lines) are still read.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from satsim.errors import SatsimError
from satsim.files import read_text, write_text
from satsim.trace.graph import GraphError, check_graph
from satsim.trace.schema import FORMAT, VERSION, VERSIONS, Record, TensorInfo, Trace, TraceHeader

_RECORD = TypeAdapter(Record)
_COMPACT = {"separators": (",", ":")}


def _line(item) -> str:
    # Defaults are left out to keep files small; the kind tag always stays.
    return json.dumps({"kind": item.kind, **item.model_dump(mode="json", exclude_defaults=True)},
                      **_COMPACT)


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` atomically: a partial file never appears under ``path``."""
    path = Path(path)
    header = trace.header.model_copy(update={"version": VERSION})
    lines = [header.model_dump_json(), *map(_line, trace.tensors), *map(_line, trace.records),
             json.dumps({"kind": "end", "tensors": len(trace.tensors),
                         "records": len(trace.records)}, **_COMPACT)]
    return write_text(path, "\n".join(lines) + "\n")


def _problem(exc: ValidationError) -> str:
    err = min(exc.errors(), key=lambda e: len(e["loc"]))
    loc = ".".join(str(p) for p in err["loc"]
                   if p not in ("gemm", "vector", "update", "maskgen", "tensor"))
    msg = err["msg"].removeprefix("Value error, ")
    reason = {"extra_forbidden": "unknown field", "missing": "required field is missing"}.get(
        err["type"], msg)
    return f"{loc}: {reason}" if loc else reason


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number in a trace")


def read_trace(path: str | Path) -> Trace:
    """Read a trace file; reject a wrong version, a truncated file, a bad record or (version 2)
    a broken dataflow graph (see :func:`satsim.trace.graph.check_graph`)."""
    path = Path(path)
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise SatsimError("empty file, expected a satsim trace header", source=path)

    def parse(number: int) -> dict:
        try:
            obj = json.loads(lines[number - 1], parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            cut = number == len(lines) and not text.endswith("\n")
            reason = "truncated record" if cut else f"not JSON ({exc.msg})"
            raise SatsimError(reason, source=path, field=f"line {number}") from None
        except (RecursionError, ValueError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise SatsimError(f"not a valid record: {reason}", source=path,
                              field=f"line {number}") from None
        if not isinstance(obj, dict):
            raise SatsimError("expected a JSON object", source=path, field=f"line {number}")
        return obj

    head = parse(1)
    if head.get("format") != FORMAT:
        raise SatsimError(f"not a satsim trace (format is not {FORMAT!r})", source=path,
                          field="line 1")
    version = head.get("version")
    if version not in VERSIONS or isinstance(version, bool):
        raise SatsimError(
            f"unsupported trace version {version!r} (this satsim reads versions "
            f"{', '.join(map(str, VERSIONS))})", source=path, field="line 1")
    try:
        header = TraceHeader.model_validate(head)
    except ValidationError as exc:
        raise SatsimError(_problem(exc), source=path, field="line 1") from None

    tensors: list[TensorInfo] = []
    records = []
    for number in range(2, len(lines) + 1):
        obj = parse(number)
        kind = obj.get("kind")
        if kind == "end":
            if number != len(lines):
                raise SatsimError("records after the end record", source=path,
                                  field=f"line {number + 1}")
            _check_end(obj, version, {"tensors": len(tensors), "records": len(records)},
                       path, f"line {number}")
            trace = Trace(header=header, records=tuple(records), tensors=tuple(tensors))
            if version > 1:
                _check(trace, path)
            return trace
        try:
            if kind == "tensor":
                if version == 1:
                    raise SatsimError("tensor lines need trace version 2", source=path,
                                      field=f"line {number}")
                if records:
                    raise SatsimError("tensor lines must come before the records",
                                      source=path, field=f"line {number}")
                tensors.append(TensorInfo.model_validate(obj))
            else:
                records.append(_RECORD.validate_python(obj))
        except ValidationError as exc:
            raise SatsimError(_problem(exc), source=path, field=f"line {number}") from None
    raise SatsimError(f"truncated: no end record after line {len(lines)}", source=path)


def _check_end(obj: dict, version: int, counts: dict[str, int], path: Path, line: str) -> None:
    """The end record holds the file's counts (version 1: records, if it says so)."""
    unknown = sorted(set(obj) - {"kind", *counts})
    if unknown:
        raise SatsimError(f"end record: unknown field {unknown[0]!r}", source=path, field=line)
    for what, count in counts.items():
        given = obj.get(what)
        if what not in obj and version == 1:
            continue
        if isinstance(given, bool) or not isinstance(given, int):
            raise SatsimError(f"{what}: expected the end record's count, a whole number, got "
                              f"{json.dumps(given)}", source=path, field=line)
        if given != count:
            raise SatsimError(f"{what}: the end record counts {given:,}, the file has "
                              f"{count:,}: a truncated or edited file?", source=path, field=line)


def _check(trace: Trace, path: Path) -> None:
    """The graph checker, its error pointing at the file's line."""
    try:
        check_graph(trace)
    except GraphError as exc:
        line = (2 + exc.tensor if exc.tensor is not None
                else 2 + len(trace.tensors) + exc.record)
        raise SatsimError(str(exc), source=path, field=f"line {line}") from None
