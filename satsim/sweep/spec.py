"""Sweep specs: YAML -> validated spec -> a deterministic list of design points.

A spec names a base hardware preset, a dataflow and workloads, and axes. Each axis sets one
dotted config path (``array.rows``, ``dataflow.interleave``; or ``sparsity``, ``method``,
``workload``) to a list of ``values``, a numeric ``range``, or ``random`` draws; a ``zip``
axis moves several paths together. Points are the cartesian product of the workloads and the
axes, in the order written (the last axis varies fastest), optionally thinned to ``sample``
points drawn with ``seed``. Each point's id is a hash of its resolved configuration, so it is
stable across runs, machines and spec reorderings that give the same configuration.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from satsim.config import (
    DataflowPolicy,
    HardwareConfig,
    load_dataflow,
    load_hardware,
)
from satsim.config.loader import resolve, split_pairs, unit_path
from satsim.errors import SatsimError
from satsim.files import file_sha256
from satsim.resources import find, shipped
from satsim.trace.workload import load_workload, resolve_workload, shipped_workloads
from satsim.types import Method, NMPattern
from satsim.yaml_input import read_yaml, shared_yaml, validate

SPECIAL = ("sparsity", "method", "workload")  # axis paths that are not config fields
MAX_POINTS = 1_000_000  # a spec that expands beyond this is a typo, not a study
_YAML = (".yaml", ".yml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Range(_Strict):
    """``start, start + step, ...`` up to and including ``stop`` (numeric)."""

    start: int | float
    stop: int | float
    step: int | float = Field(default=1)

    @model_validator(mode="after")
    def _check(self) -> Range:
        if self.step <= 0 or self.stop < self.start:
            raise ValueError("needs step > 0 and stop >= start")
        if (self.stop - self.start) / self.step >= MAX_POINTS:
            raise ValueError(f"more than {MAX_POINTS} values")
        return self

    def values(self) -> list[int | float]:
        count = int((self.stop - self.start) / self.step + 1e-9) + 1
        integral = all(isinstance(v, int) for v in (self.start, self.stop, self.step))
        # Multiplying, not accumulating, keeps float ranges free of drift.
        return [self.start + i * self.step if integral else
                round(self.start + i * self.step, 12) for i in range(count)]


class Random(_Strict):
    """``count`` values drawn uniformly (or log-uniformly) from ``[low, high]``, seeded by the
    spec's ``seed`` and the axis position."""

    low: int | float
    high: int | float
    count: int = Field(ge=1, le=MAX_POINTS)
    integer: bool = False
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> Random:
        if self.high < self.low or (self.log and self.low <= 0):
            raise ValueError("needs low <= high (and low > 0 for log)")
        return self

    def values(self, rng: np.random.Generator) -> list[int | float]:
        if self.log:
            draws = np.exp(rng.uniform(np.log(self.low), np.log(self.high), self.count))
        else:
            draws = rng.uniform(self.low, self.high, self.count)
        if self.integer:
            return [int(v) for v in np.clip(np.rint(draws), self.low, self.high)]
        return [float(v) for v in draws]


class Axis(_Strict):
    """One axis: ``path`` with ``values``, ``range`` or ``random``; or ``zip`` of paths."""

    path: str | None = Field(default=None, min_length=1)
    values: list[Any] | None = Field(default=None, min_length=1)
    range: Range | None = None
    random: Random | None = None
    zip: dict[str, list[Any]] | None = None

    @model_validator(mode="after")
    def _check(self) -> Axis:
        given = [k for k in ("values", "range", "random", "zip") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of values, range, random, zip")
        if (self.zip is None) == (self.path is None):
            raise ValueError("a zip axis names its paths inside zip; any other needs a path")
        if self.zip is not None:
            lengths = {len(v) for v in self.zip.values()}
            if not self.zip or len(lengths) != 1 or 0 in lengths:
                raise ValueError("zip needs lists of one same, non-zero length")
        return self

    def paths(self) -> list[str]:
        return list(self.zip) if self.zip is not None else [self.path]

    def assignments(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        """Every setting of this axis, as ``{path: value}``."""
        if self.zip is not None:
            return [dict(zip(self.zip, row, strict=True)) for row in zip(*self.zip.values(),
                                                                          strict=True)]
        if self.values is not None:
            values = self.values
        elif self.range is not None:
            values = self.range.values()
        else:
            values = self.random.values(rng)
        return [{self.path: v} for v in values]


class SweepSpec(_Strict):
    """A design-space sweep (see the module doc)."""

    name: str = Field(min_length=1, description="shown in reports and the manifest")
    description: str = Field(default="", description="one line on the study (satsim list)")
    hardware: str = Field(default="sat", min_length=1, description="base preset or YAML file")
    dataflow: str | None = Field(default=None, min_length=1,
                                 description="base preset or YAML file (default: the one the "
                                             "hardware names)")
    workloads: list[str] | None = Field(
        default=None, min_length=1,
        description="shipped names or trace/CSV files (or else a `workload` axis)")
    axes: list[Axis] = Field(default_factory=list)
    baseline: bool = Field(default=True, description="simulate each sparse point's dense twin "
                           "(speedup column)")
    seed: int = Field(default=0, ge=0, description="for random axes and sampling")
    sample: int | None = Field(default=None, ge=1,
                               description="draw this many points of the grid, seeded")
    batch_size: int | None = Field(default=None, ge=1, le=10_000,
                                   description="points per task (default: automatic)")


@dataclass(frozen=True)
class Point:
    """One design point, ready to simulate (or already known to be invalid)."""

    point_id: str
    workload: str  # as the spec names it
    workload_path: str  # a file's absolute path, or a shipped name (resolved by the worker)
    hardware: str
    dataflow: str
    overrides: tuple[str, ...]  # dotted.path=value, as `satsim run --set` takes them
    method: str | None
    sparsity: str | None
    baseline: bool
    columns: dict[str, Any]  # config column -> value, for the results table
    error: str | None = None  # the reason it cannot run (recorded as failed)
    workload_sha256: str = ""  # what the id covers; a worker with another copy refuses it


def shipped_specs() -> dict[str, Path]:
    """The shipped sweep specs by name (``configs/sweeps/<name>.yaml``)."""
    return shipped("configs/sweeps", _YAML)


def spec_file(path: str | Path) -> Path:
    """The file of a sweep spec: a shipped name or a YAML file, by the rule of
    :func:`satsim.resources.find`. Files the spec names are found beside it."""
    return find(path, shipped_specs(), "sweep spec")


def load_spec(path: str | Path) -> tuple[SweepSpec, dict]:
    """Read and validate a sweep spec (:func:`spec_file`); returns it and its raw mapping (for
    the manifest)."""
    path = spec_file(path)
    data = read_yaml(path)
    return validate(SweepSpec, data, path), data


def input_files(path: str | Path) -> list[tuple[str, str]]:
    """The files a sweep of the spec ``path`` reads, as ``(what, path)``: the spec, and the
    hardware, dataflow and workloads it names that are files (not shipped names), found as
    :func:`expand` finds them. For the check that ``--out`` overwrites none of them."""
    source = spec_file(path)
    spec, _ = load_spec(source)
    workloads = [*(spec.workloads or ()), *(row["workload"] for rows in _settings(spec)
                                            for row in rows if "workload" in row)]
    named = [("hardware", spec.hardware, shipped("configs", _YAML)),
             *([("dataflow", spec.dataflow, shipped("dataflows", _YAML))]
               if spec.dataflow is not None else []),
             *(("workload", str(w), shipped_workloads()) for w in workloads)]
    return [("SPEC", str(source))] + [
        (f"{what} of the spec", found) for what, name, files in named
        if (found := _beside(name, source.parent, files)) not in files]


def _known_path(path: str) -> bool:
    """Whether ``path`` names a field (or sub-mapping) of the hardware or dataflow schema; a
    mapping field's part is any key (``memory.buffers.<name>.kib``)."""
    if path in SPECIAL:
        return True
    kinds: list[Any] = [DataflowPolicy if path.startswith("dataflow.") else HardwareConfig]
    for part in path.removeprefix("dataflow.").split("."):
        inner: list[Any] = []
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                if part in kind.model_fields:
                    inner += _alternatives(kind.model_fields[part].annotation)
            elif typing.get_origin(kind) is dict:  # the part is a key
                inner += _alternatives(typing.get_args(kind)[1])
        if not inner:
            return False
        kinds = inner
    return True


def _alternatives(annotation: Any) -> list[Any]:
    """The types a field may hold: a union's members, an annotated type's base."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [kind for member in typing.get_args(annotation) for kind in _alternatives(member)]
    return [annotation]


def _value_text(value: Any) -> str:
    # JSON is YAML: what --set parses back into the same value.
    return json.dumps(value)


def _shown(value: Any) -> str:
    """A spec value as an error message quotes it (JSON, cut short)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _distinct(values: list[Any]) -> list[Any]:
    """``values`` without repeats, in order (compared by their JSON: some are unhashable)."""
    return list({json.dumps(v, sort_keys=True, default=repr): v for v in values}.values())


@dataclass(frozen=True)
class _Workload:
    """A workload as the points use it, resolved once."""

    target: str  # the name found beside the spec, or as given
    path: Path  # its file
    sha256: str


def expand(spec: SweepSpec, source: str | Path | None = None) -> list[Point]:
    """The spec's points in order.

    Before any point is made, the spec is checked as a whole: every axis path names a config
    field (each once), every axis value is accepted by its field on its own, every workload
    can be read, the grid holds at most ``MAX_POINTS`` points and at least ``sample``. Any
    problem is a :class:`SatsimError` naming ``source`` (the spec's file, as given to
    :func:`load_spec`; files the spec names are found beside it) and the field. Values valid
    alone but not together make points with an ``error`` (failed rows).
    """
    # Files named in the spec are found beside it first, then as given.
    base = Path.cwd() if source is None else spec_file(source).parent
    source = "sweep spec" if source is None else source
    hardware = _beside(spec.hardware, base, shipped("configs", _YAML))
    dataflow = spec.dataflow
    if dataflow is None:  # the one the base hardware names
        try:
            dataflow = load_hardware(hardware).dataflow
        except SatsimError as exc:
            raise SatsimError(str(exc), source=source, field="hardware") from None
    spec = spec.model_copy(update={
        "hardware": hardware, "dataflow": _beside(dataflow, base, shipped("dataflows", _YAML))})
    for what, load in (("hardware", load_hardware), ("dataflow", load_dataflow)):
        try:  # the base presets: an error names the spec's field and what it found there
            load(getattr(spec, what))
        except SatsimError as exc:
            raise SatsimError(str(exc), source=source, field=what) from None
    _check_paths(spec, source)
    settings = _settings(spec)
    grid = len(spec.workloads or [None]) * int(np.prod([len(s) for s in settings], dtype=object))
    if grid > MAX_POINTS:
        raise SatsimError(f"expands to {grid:,} points (limit {MAX_POINTS:,})", source=source)
    if spec.sample is not None and spec.sample > grid:
        raise SatsimError(f"{spec.sample} is more than the {grid} points of the grid",
                          source=source, field="sample")
    fields = {name: f"workloads.{i}" for i, name in enumerate(spec.workloads or ())}
    for i, (axis, rows) in enumerate(zip(spec.axes, settings, strict=True)):
        for path in axis.paths():
            field = f"axes.{i} ({path})"
            for value in _distinct([row[path] for row in rows]):
                if (reason := _rejection(spec, path, value)) is not None:
                    raise SatsimError(f"{_shown(value)}: {reason}", source=source, field=field)
                if path == "workload":
                    fields.setdefault(value, field)
    workloads = {name: _workload(name, base, source, field) for name, field in fields.items()}
    listed = [({"workload": w},) for w in spec.workloads] if spec.workloads else [()]
    combos = [(*w, *rest) for w in listed for rest in itertools.product(*settings)]
    if spec.sample is not None and spec.sample < len(combos):
        chosen = np.random.default_rng([spec.seed, len(spec.axes)]).choice(
            len(combos), spec.sample, replace=False)
        combos = [combos[i] for i in sorted(chosen)]
    swept = {path for axis in spec.axes for path in axis.paths()}
    return [_point(spec, combo, swept, workloads) for combo in combos]


def _settings(spec: SweepSpec) -> list[list[dict[str, Any]]]:
    """Every axis's settings (:meth:`Axis.assignments`), random ones drawn with the spec's
    seed and the axis's position."""
    rngs = [np.random.default_rng([spec.seed, i]) for i in range(len(spec.axes))]
    return [axis.assignments(rng) for axis, rng in zip(spec.axes, rngs, strict=True)]


def _check_paths(spec: SweepSpec, source: str | Path) -> None:
    """Every axis path names a config field or a special path, and each is set once: by one
    axis (or the workloads list), not inside another axis's mapping either."""
    owners: dict[str, str] = {"workload": "workloads"} if spec.workloads else {}
    shown = {"workload": "workload"}  # a path as the spec wrote it
    for i, axis in enumerate(spec.axes):
        for path in axis.paths():
            field = f"axes.{i} ({path})"
            full = _full_path(spec, path)
            if not _known_path(full):
                raise SatsimError("no such config path (hardware fields, a unit's NAME.FIELD, "
                                  "dataflow.<field>, sparsity, method or workload)",
                                  source=source, field=field)
            clash = next((other for other in owners if _overlap(full, other)), None)
            if clash is not None:
                raise SatsimError(f"{owners[clash]} sets {shown[clash]} already: give each "
                                  "config field one axis (a zip axis moves several together)",
                                  source=source, field=field)
            owners[full], shown[full] = field, path
    if not owners.get("workload"):
        raise SatsimError("give the workloads to simulate, or a workload axis", source=source,
                          field="workloads")


def _full_path(spec: SweepSpec, path: str) -> str:
    """``path`` with a unit's ``NAME.FIELD`` spelled out (``units.NAME.FIELD``) for a unit of
    the spec's base hardware, as ``--set`` takes it."""
    if path in SPECIAL or path.startswith("dataflow."):
        return path
    return unit_path(path, shared_yaml(resolve(spec.hardware, "configs")))


def _overlap(path: str, other: str) -> bool:
    """Whether axes on ``path`` and ``other`` set the same field (one inside the other)."""
    if path == other:
        return True
    # Only config paths nest: the special `sparsity` (N:M) is not the hardware's `sparsity.*`.
    return {path, other}.isdisjoint(SPECIAL) and (
        path.startswith(other + ".") or other.startswith(path + "."))


def _workload(name: str, base: Path, source: str | Path, field: str) -> _Workload:
    """The workload ``name`` of the spec, read once: an error names the spec's field."""
    target = _beside(name, base, shipped_workloads())
    try:
        path = resolve_workload(target)
        load_workload(path)  # parsed once here, so a bad file is the spec's error
        return _Workload(target=target, path=path, sha256=file_sha256(path))
    except SatsimError as exc:
        raise SatsimError(str(exc), source=source, field=field) from None


def _rejection(spec: SweepSpec, path: str, value: Any) -> str | None:
    """Why the field at ``path`` rejects ``value`` on its own, as ``satsim run`` would take it
    (``--method``, ``--sparsity``, ``--set PATH=VALUE`` on the spec's base presets); None
    when it accepts it. A rejection about another field (a cross-field rule of the configs)
    depends on the other axes and is left to the points."""
    if path == "method":
        methods = [m.value for m in Method]
        return None if value in methods else f"not a method ({', '.join(methods)})"
    if path == "sparsity":
        return _pattern_rejection(value)
    if path == "workload":  # read with the listed ones
        return None if isinstance(value, str) else "not a workload name or file"
    hardware, dataflow = split_pairs([(path, value)])
    field = _full_path(spec, path).removeprefix("dataflow.")
    try:
        if hardware:
            load_hardware(spec.hardware, hardware)
        else:
            load_dataflow(spec.dataflow, dataflow)
    except SatsimError as exc:
        about = exc.field or ""
        if (about in (field, path) or about.startswith((field + ".", path + "."))
                or (not about and exc.source == f"--set {path}")):
            shown = [str(exc.source)] + ([about] if about in (field, path) else [])
            return str(exc).removeprefix(": ".join(shown) + ": ")  # the part below the path
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return "beyond the 64-bit integers a results column holds"
    return None


def _pattern_rejection(value: Any) -> str | None:
    """Why ``value`` is not a ``sparsity`` (``--sparsity``: dense or N:M), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        # YAML 1.1 (PyYAML) reads digits:digits as a base-60 integer.
        text = f"{value // 60}:{value % 60}"
        return (f"YAML reads an unquoted {text} as the base-60 number {value}: "
                f"quote it, \"{text}\"")
    if not isinstance(value, str):
        return "not a pattern: give 'dense' or a quoted \"N:M\""
    try:
        NMPattern.parse(value)
    except ValueError as exc:
        return str(exc)
    return None


def _beside(name: str, base: Path, shipped_files: dict[str, Path]) -> str:
    """A shipped name as it is (a worker looks it up in its own copy), a file by its path
    (:func:`satsim.resources.find`, ``base``: the spec's folder); a name found nowhere stays
    as written, for the point (or the sweep) to report."""
    try:
        found = find(name, shipped_files, "preset", beside=base)
    except SatsimError:
        return name
    return name if found == shipped_files.get(name) else str(found)


def _point(spec: SweepSpec, combo: tuple[dict, ...], swept: set[str],
           workloads: dict[str, _Workload]) -> Point:
    assigned: dict[str, Any] = {}
    for part in combo:
        assigned.update(part)
    workload = str(assigned.pop("workload"))
    method = assigned.pop("method", None)
    sparsity = assigned.pop("sparsity", None)
    overrides = tuple(f"{path}={_value_text(value)}" for path, value in assigned.items())
    columns: dict[str, Any] = {"workload": workload}
    for key, value in (("method", method), ("sparsity", sparsity)):
        if key in swept:
            columns[key] = value
    columns.update(assigned)
    raw = {"workload": workload, "overrides": overrides, "method": method,
           "sparsity": sparsity, "hardware": spec.hardware, "dataflow": spec.dataflow,
           "baseline": spec.baseline}
    common = dict(workload=workload, hardware=spec.hardware, dataflow=spec.dataflow,
                  overrides=overrides, method=method, sparsity=sparsity,
                  baseline=spec.baseline, columns=columns)
    found = workloads[workload]
    try:
        hw_over, df_over = split_pairs(assigned.items())  # typed already: no re-parsing
        hw, policy = load_hardware(spec.hardware, hw_over), load_dataflow(spec.dataflow, df_over)
    except SatsimError as exc:
        return Point(point_id=_digest(raw), workload_path="", error=str(exc), **common)
    resolved = {"hardware": hw.model_dump(mode="json"), "dataflow": policy.model_dump(mode="json"),
                "workload_sha256": found.sha256, "method": method, "sparsity": sparsity,
                "baseline": spec.baseline}
    # A shipped workload travels by name: a remote worker has its own copy (same SHA-256: the
    # id covers it); a user's file travels by absolute path.
    shipped_name = found.target in shipped_workloads()
    return Point(point_id=_digest(resolved),
                 workload_path=found.target if shipped_name else str(found.path.resolve()),
                 workload_sha256=found.sha256, **common)
