"""The results directory: a manifest and Parquet shards, one per finished batch.

``DIR/_manifest.json`` holds the spec, its hash, the satsim version and the resolved base
presets; ``DIR/shards/*.parquet`` (pyarrow, zstd) hold result rows, every shard with the same
schema (:func:`row_schema`). So any Parquet reader takes ``DIR`` itself: Parquet readers skip
files whose names start with ``_`` or ``.`` (the manifest, a shard being written). Every file
is written to a temporary and renamed, so a killed sweep leaves only whole shards: resuming
skips their points and redoes the rest, which gives exactly the rows of an uninterrupted run.

Folders of the first layout (``satsim.sweep/1``: ``DIR/manifest.json``, shards whose columns
varied) are still read by :func:`load_results`, but not extended.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from satsim.errors import SatsimError
from satsim.files import read_text, remove_stale, write_atomic, write_text

MANIFEST = "_manifest.json"
SHARDS = "shards"
SCHEMA = "satsim.sweep/2"
OLD_MANIFEST, OLD_SCHEMA = "manifest.json", "satsim.sweep/1"  # the first layout


def check_store(out: Path, manifest: dict, resume: bool) -> dict[str, str | None]:
    """The points already finished in ``out``, id -> error (None: ok); none for a new folder.
    Writes nothing.

    Refuses a directory of another sweep or satsim version, a non-empty directory that is not
    a sweep, a folder of the first layout, and existing results without ``resume``.
    """
    if out.exists() and not out.is_dir():
        raise SatsimError("exists and is not a folder", source=out)
    path = out / MANIFEST
    old = _manifest(path) if path.is_file() else None
    first_layout = (out / OLD_MANIFEST).is_file() if old is None else old["schema"] != SCHEMA
    if first_layout:
        raise SatsimError(f"holds results in the first layout ({OLD_MANIFEST}), which "
                          "load_results reads but a sweep does not extend: use another --out",
                          source=out)
    if old is not None:
        for key, what in (("spec_sha256", "a different sweep spec"),
                          ("satsim_version", "another satsim version")):
            if old.get(key) != manifest[key]:
                raise SatsimError(f"holds results of {what} ({old.get(key)!r}, this run "
                                  f"{manifest[key]!r}): use another --out", source=out)
        if not resume:
            raise SatsimError("already holds results of this sweep: add --resume to continue "
                              "it, or choose another --out", source=out)
        return {pid: error for table in _tables(out, ["point_id", "error"])
                for pid, error in zip(*table.to_pydict().values(), strict=True)}
    if out.is_dir() and any(out.iterdir()):
        raise SatsimError("is not empty and holds no sweep manifest", source=out)
    return {}


def _manifest(path: Path) -> dict:
    try:
        manifest = json.loads(read_text(path))
    except json.JSONDecodeError:
        raise SatsimError("unreadable sweep manifest", source=path) from None
    if not isinstance(manifest, dict) or manifest.get("schema") not in (SCHEMA, OLD_SCHEMA):
        raise SatsimError("not a satsim sweep manifest", source=path)
    return manifest


def init_store(out: Path, manifest: dict) -> None:
    """Make ``out`` ready for shards: the manifest of a new sweep, no stale temporaries."""
    if not (out / MANIFEST).is_file():
        try:
            (out / SHARDS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SatsimError(f"cannot create: {exc.strerror}", source=out) from None
        write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    remove_stale(out / SHARDS)  # shards being written when a run died (a live one is locked)


def row_schema(columns: dict[str, str]):
    """The Parquet schema of every shard: ``columns`` (name -> bool, int, float or str) in
    their order. A column no row of a shard fills is still there, typed, all null: readers
    that take one file's schema for the whole folder see every column with its type."""
    import pyarrow as pa

    arrow = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    return pa.schema([pa.field(name, arrow[kind]) for name, kind in columns.items()])


def write_shard(out: Path, rows: list[dict], schema) -> Path:
    """Write one finished batch as a shard named by its first point and size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    unknown = {key for row in rows for key in row} - set(schema.names)
    if unknown:  # a metric added to the runs but not to the sweep's schema would be lost
        raise ValueError(f"result columns outside the sweep's schema: {sorted(unknown)} "
                         "(declare each metric in satsim.report.summary.METRICS)")
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
    path = next((out / name for name in (MANIFEST, OLD_MANIFEST) if (out / name).is_file()),
                None)
    if path is None:
        raise SatsimError(f"not a sweep results folder (no {MANIFEST})", source=out)
    manifest = _manifest(path)
    tables = _tables(out)
    if not tables:
        raise SatsimError("holds no results yet", source=out)
    table = pa.concat_tables(tables, promote_options="default")  # the first layout varied
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    config = ["point_id", *manifest["columns"], "status", "error"]
    host = sorted(c for c in frame.columns if c.startswith("host_"))
    metrics = sorted(set(frame.columns) - set(config) - set(host))
    frame = frame[config + metrics + host]
    frame = frame.sort_values("point_id", kind="stable").reset_index(drop=True)
    frame.attrs["sweep"] = manifest["name"]  # plots name the sweep
    return frame


def _tables(out: Path, columns: list[str] | None = None) -> list[Any]:
    import pyarrow.parquet as pq

    return [pq.read_table(path, columns=columns)
            for path in sorted((out / SHARDS).glob("*.parquet"))]


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
