"""Read and write trace files (JSON lines), with errors that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from satsim.errors import SatsimError
from satsim.files import read_text, write_text
from satsim.trace.schema import FORMAT, VERSION, Record, Trace, TraceHeader

_RECORD = TypeAdapter(Record)


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` atomically: a partial file never appears under ``path``."""
    path = Path(path)
    compact = {"separators": (",", ":")}
    lines = [trace.header.model_dump_json()]
    # Defaults are left out to keep files small; the kind tag always stays.
    lines += [json.dumps({"kind": r.kind, **r.model_dump(mode="json", exclude_defaults=True)},
                         **compact) for r in trace.records]
    lines.append(json.dumps({"kind": "end", "records": len(trace.records)}, **compact))
    return write_text(path, "\n".join(lines) + "\n")


def _problem(exc: ValidationError) -> str:
    err = min(exc.errors(), key=lambda e: len(e["loc"]))
    loc = ".".join(str(p) for p in err["loc"] if p not in ("gemm", "vector", "update", "maskgen"))
    msg = err["msg"].removeprefix("Value error, ")
    reason = {"extra_forbidden": "unknown field", "missing": "required field is missing"}.get(
        err["type"], msg)
    return f"{loc}: {reason}" if loc else reason


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number in a trace")


def read_trace(path: str | Path) -> Trace:
    """Read a trace file; reject a wrong version, a truncated file or a bad record."""
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
    if head.get("version") != VERSION:
        raise SatsimError(
            f"unsupported trace version {head.get('version')!r} (this satsim reads version "
            f"{VERSION})", source=path, field="line 1")
    try:
        header = TraceHeader.model_validate(head)
    except ValidationError as exc:
        raise SatsimError(_problem(exc), source=path, field="line 1") from None

    records = []
    for number in range(2, len(lines) + 1):
        obj = parse(number)
        if obj.get("kind") == "end":
            if number != len(lines):
                raise SatsimError("records after the end record", source=path,
                                  field=f"line {number + 1}")
            if obj.get("records") != len(records):
                raise SatsimError(
                    f"end record counts {obj.get('records')} records, file has {len(records)}",
                    source=path, field=f"line {number}")
            return Trace(header=header, records=tuple(records))
        try:
            records.append(_RECORD.validate_python(obj))
        except ValidationError as exc:
            raise SatsimError(_problem(exc), source=path, field=f"line {number}") from None
    raise SatsimError(f"truncated: no end record after line {len(lines)}", source=path)
