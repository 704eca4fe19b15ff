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
from satsim.config.loader import read_yaml, split_pairs, validate
from satsim.errors import SatsimError
from satsim.files import file_sha256
from satsim.resources import find, shipped
from satsim.trace.workload import resolve_workload, shipped_workloads

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
    hardware: str = Field(default="sat", min_length=1, description="base preset or YAML file")
    dataflow: str = Field(default="sat", min_length=1, description="base preset or YAML file")
    workloads: list[str] = Field(min_length=1, description="shipped names or trace/CSV files")
    axes: list[Axis] = Field(default_factory=list)
    baseline: bool = Field(default=True, description="simulate each sparse point's dense twin "
                           "(speedup column)")
    seed: int = Field(default=0, description="for random axes and sampling")
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


def load_spec(path: str | Path) -> tuple[SweepSpec, dict]:
    """Read and validate a sweep spec (a shipped name or a YAML file, by the rule of
    :func:`satsim.resources.find`); returns it and its raw mapping (for the manifest)."""
    path = find(path, shipped_specs(), "sweep spec")
    data = read_yaml(path)
    return validate(SweepSpec, data, path), data


def input_files(path: str | Path) -> list[tuple[str, str]]:
    """The files a sweep of the spec ``path`` reads, as ``(what, path)``: the spec, and the
    hardware, dataflow and workloads it names that are files (not shipped names), found as
    :func:`expand` finds them. For the check that ``--out`` overwrites none of them."""
    source = find(path, shipped_specs(), "sweep spec")
    spec, _ = load_spec(source)
    base = Path(path).parent if Path(path).is_file() else Path.cwd()  # as in expand
    workloads = [*spec.workloads, *(row["workload"] for i, axis in enumerate(spec.axes)
                                    if "workload" in axis.paths() for row in
                                    axis.assignments(np.random.default_rng([spec.seed, i])))]
    named = [("hardware", spec.hardware, shipped("configs", _YAML)),
             ("dataflow", spec.dataflow, shipped("dataflows", _YAML)),
             *(("workload", str(w), shipped_workloads()) for w in workloads)]
    return [("SPEC", str(source))] + [(f"{what} of the spec", found) for what, name, files in named
                                      if (found := _beside(name, base, files)) not in files]


def _known_path(path: str) -> bool:
    """Whether ``path`` names a leaf (or sub-mapping) of the hardware or dataflow schema."""
    if path in SPECIAL:
        return True
    model: Any = DataflowPolicy if path.startswith("dataflow.") else HardwareConfig
    parts = path.removeprefix("dataflow.").split(".")
    for i, part in enumerate(parts):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        annotation = fields[part].annotation
        options = [a for a in getattr(annotation, "__args__", (annotation,))
                   if isinstance(a, type) and issubclass(a, BaseModel)]
        if i < len(parts) - 1:
            if not options:
                return False
            model = options[0]
    return True


def _value_text(value: Any) -> str:
    # JSON is YAML: what --set parses back into the same value.
    return json.dumps(value)


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def expand(spec: SweepSpec, source: str | Path = "sweep spec") -> list[Point]:
    """The spec's points in order; unknown axis paths and empty grids are errors."""
    for axis in spec.axes:
        for path in axis.paths():
            if not _known_path(path):
                raise SatsimError("no such config path (hardware fields, dataflow.<field>, "
                                  "sparsity, method or workload)", source=source,
                                  field=f"axes: {path}")
    rngs = [np.random.default_rng([spec.seed, i]) for i in range(len(spec.axes))]
    settings = [axis.assignments(rng) for axis, rng in zip(spec.axes, rngs, strict=True)]
    total = len(spec.workloads) * int(np.prod([len(s) for s in settings], dtype=object))
    if total > MAX_POINTS:
        raise SatsimError(f"expands to {total:,} points (limit {MAX_POINTS:,})", source=source)
    combos = [({"workload": w}, *rest) for w in spec.workloads
              for rest in itertools.product(*settings)]
    if spec.sample is not None and spec.sample < len(combos):
        chosen = np.random.default_rng([spec.seed, len(spec.axes)]).choice(
            len(combos), spec.sample, replace=False)
        combos = [combos[i] for i in sorted(chosen)]
    # Files named in the spec are found beside it first, then as given.
    base = Path(source).parent if Path(source).is_file() else Path.cwd()
    spec = spec.model_copy(update={
        "hardware": _beside(spec.hardware, base, shipped("configs", _YAML)),
        "dataflow": _beside(spec.dataflow, base, shipped("dataflows", _YAML))})
    swept = {path for axis in spec.axes for path in axis.paths()}
    return [_point(spec, combo, swept, base) for combo in combos]


def _beside(name: str, base: Path, shipped_files: dict[str, Path]) -> str:
    """A shipped name as it is (a worker looks it up in its own copy), a file by its path
    (:func:`satsim.resources.find`, ``base``: the spec's folder); a name found nowhere stays
    as written, for the point (or the sweep) to report."""
    try:
        found = find(name, shipped_files, "preset", beside=base)
    except SatsimError:
        return name
    return name if found == shipped_files.get(name) else str(found)


def _point(spec: SweepSpec, combo: tuple[dict, ...], swept: set[str], base: Path) -> Point:
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
                  overrides=overrides, method=None if method is None else str(method),
                  sparsity=None if sparsity is None else str(sparsity),
                  baseline=spec.baseline, columns=columns)
    shipped_files = shipped_workloads()
    target = _beside(workload, base, shipped_files)
    try:
        path = resolve_workload(target)
        digest = file_sha256(path)
        hw_over, df_over = split_pairs(assigned.items())  # typed already: no re-parsing
        hw, policy = load_hardware(spec.hardware, hw_over), load_dataflow(spec.dataflow, df_over)
    except SatsimError as exc:
        return Point(point_id=_digest(raw), workload_path="", error=str(exc), **common)
    resolved = {"hardware": hw.model_dump(mode="json"), "dataflow": policy.model_dump(mode="json"),
                "workload_sha256": digest, "method": method, "sparsity": sparsity,
                "baseline": spec.baseline}
    # A shipped workload travels by name: a remote worker has its own copy (same SHA-256: the
    # id covers it); a user's file travels by absolute path.
    shipped_name = target in shipped_files
    return Point(point_id=_digest(resolved),
                 workload_path=target if shipped_name else str(path.resolve()),
                 workload_sha256=digest, **common)
