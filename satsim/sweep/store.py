"""The results directory: a manifest and Parquet shards, one per finished batch.

``DIR/manifest.json`` holds the spec, its hash, the satsim version and the resolved base
presets; ``DIR/shards/*.parquet`` (pyarrow, zstd) hold result rows. Every file is written to a
temporary and renamed, so a killed sweep leaves only whole shards: resuming skips their points
and redoes the rest, which gives exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from satsim.errors import SatsimError
from satsim.files import read_text, write_atomic, write_text

MANIFEST = "manifest.json"
SHARDS = "shards"
SCHEMA = "satsim.sweep/1"


def check_store(out: Path, manifest: dict, resume: bool) -> set[str]:
    """The ids already finished in ``out`` (none for a new folder); writes nothing.

    Refuses a directory of another sweep or satsim version, a non-empty directory that is not
    a sweep, and existing results without ``resume``.
    """
    if out.exists() and not out.is_dir():
        raise SatsimError("exists and is not a folder", source=out)
    path = out / MANIFEST
    if path.is_file():
        try:
            old = json.loads(read_text(path))
        except json.JSONDecodeError:
            raise SatsimError("unreadable sweep manifest", source=path) from None
        if not isinstance(old, dict) or old.get("schema") != SCHEMA:
            raise SatsimError("not a satsim sweep manifest", source=path)
        for key, what in (("spec_sha256", "a different sweep spec"),
                          ("satsim_version", "another satsim version")):
            if old.get(key) != manifest[key]:
                raise SatsimError(f"holds results of {what} ({old.get(key)!r}, this run "
                                  f"{manifest[key]!r}): use another --out", source=out)
        if not resume:
            raise SatsimError("already holds results of this sweep: add --resume to continue "
                              "it, or choose another --out", source=out)
        return {pid for table in _tables(out) for pid in table.column("point_id").to_pylist()}
    if out.is_dir() and any(out.iterdir()):
        raise SatsimError("is not empty and holds no sweep manifest", source=out)
    return set()


def init_store(out: Path, manifest: dict) -> None:
    """Make ``out`` ready for shards: the manifest of a new sweep, no stale temporaries."""
    if not (out / MANIFEST).is_file():
        try:
            (out / SHARDS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SatsimError(f"cannot create: {exc.strerror}", source=out) from None
        write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    for stale in (out / SHARDS).glob(".*.part"):  # a shard being written when a run died
        stale.unlink()


def write_shard(out: Path, rows: list[dict], types: dict[str, str]) -> Path:
    """Write one finished batch as a shard named by its first point and size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A column missing from every row of this shard is null-typed; other shards give its type.
    arrow = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string(),
             None: pa.null()}
    names = list(dict.fromkeys(k for row in rows for k in row))
    schema = pa.schema([pa.field(n, arrow[types.get(n) or value_kind([r.get(n) for r in rows])])
                        for n in names])
    table = pa.Table.from_pylist(rows, schema=schema)
    path = out / SHARDS / f"{rows[0]['point_id']}-{len(rows)}.parquet"
    write_atomic(path, lambda handle: pq.write_table(table, handle, compression="zstd"))
    return path


def load_results(out: str | Path):
    """All rows of a results directory as a pandas frame, sorted by ``point_id``.

    Column order is fixed (id, config columns, status, error, metrics A-Z, ``host_`` columns),
    and integer columns stay integers (nullable), so equal sweeps give equal frames.
    """
    import pandas as pd
    import pyarrow as pa

    out = Path(out)
    if not (out / MANIFEST).is_file():
        raise SatsimError("not a sweep results folder (no manifest.json)", source=out)
    manifest = json.loads(read_text(out / MANIFEST))
    tables = _tables(out)
    if not tables:
        raise SatsimError("holds no results yet", source=out)
    table = pa.concat_tables(tables, promote_options="default")
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    config = ["point_id", *manifest["columns"], "status", "error"]
    host = sorted(c for c in frame.columns if c.startswith("host_"))
    metrics = sorted(set(frame.columns) - set(config) - set(host))
    frame = frame[config + metrics + host]
    frame = frame.sort_values("point_id", kind="stable").reset_index(drop=True)
    frame.attrs["sweep"] = manifest["name"]  # plots name the sweep
    return frame


def _tables(out: Path) -> list[Any]:
    import pyarrow.parquet as pq

    return [pq.read_table(path) for path in sorted((out / SHARDS).glob("*.parquet"))]


def value_kind(values: list[Any]) -> str | None:
    """One column type for these values: bool, int, float or str (None: all missing)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    return "str"
