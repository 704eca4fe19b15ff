"""The one input boundary for configs: YAML (file or preset) + overrides -> typed object."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from satsim.config.dataflow import DataflowPolicy
from satsim.config.hardware import HardwareConfig
from satsim.errors import SatsimError
from satsim.resources import shipped

Model = TypeVar("Model", bound=BaseModel)
_YAML = (".yaml", ".yml")


def resolve(spec: str | Path, kind: str) -> Path:
    """A path if ``spec`` names an existing file, else the shipped preset of that name."""
    path = Path(spec)
    if path.is_file():
        return path
    presets = shipped(kind, _YAML)
    if str(spec) in presets:
        return presets[str(spec)]
    if path.suffix in _YAML or "/" in str(spec):
        raise SatsimError("no such file", source=spec)
    names = ", ".join(presets) or "none"
    raise SatsimError(f"no such file or preset (presets: {names})", source=spec)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, with errors that name the file and the line."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SatsimError(f"cannot read: {exc.strerror}", source=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        reason = getattr(exc, "problem", None) or "malformed YAML"
        raise SatsimError(f"malformed YAML: {reason}", source=path, field=where) from None
    if not isinstance(data, dict):
        raise SatsimError("expected a mapping of keys to values at the top level", source=path)
    return data


def parse_overrides(items: list[str] | tuple[str, ...]) -> list[tuple[str, Any]]:
    """``["array.rows=16", ...]`` -> ``[("array.rows", 16), ...]``; values are YAML scalars."""
    parsed = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SatsimError(f"expected dotted.path=value, got {item!r}", source="--set")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parsed.append((key.strip(), value))
    return parsed


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Copy of ``data`` with each ``dotted.path`` set; intermediate mappings are created."""
    data = copy.deepcopy(data)
    for key, value in overrides:
        node = data
        *parents, leaf = key.split(".")
        for i, part in enumerate(parents):
            child = node.get(part)
            if child is None or isinstance(child, str):
                child = node[part] = {}
            if not isinstance(child, dict):
                path = ".".join(parents[: i + 1])
                raise SatsimError(f"{path} is not a mapping, cannot set {key}", source="--set")
            node = child
        node[leaf] = value
    return data


def validate(
    model: type[Model], data: dict[str, Any], source: str | Path, overridden: tuple[str, ...] = ()
) -> Model:
    """Build ``model`` from ``data``; the first problem becomes a :class:`SatsimError`.

    ``overridden`` lists the dotted keys set on the command line, so that an error in one of
    them says where the bad value came from.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Of a union's alternatives, the deepest location is the one the user meant.
        err = max(exc.errors(), key=lambda e: len(e["loc"]))
        loc = ".".join(str(p) for p in err["loc"] if not _is_union_member(p)) or "(top level)"
        reason = {"extra_forbidden": "unknown key", "missing": "required key is missing"}.get(
            err["type"], err["msg"])
        if any(loc == key or loc.startswith(key + ".") for key in overridden):
            reason += " (value from --set)"
        raise SatsimError(reason, source=source, field=loc) from None


def _is_union_member(part: object) -> bool:
    # pydantic names the tried union member in the location: literal[...] or a model name.
    return isinstance(part, str) and (part.startswith("literal[") or part in _model_names())


def _model_names(cls: type[BaseModel] = BaseModel) -> set[str]:
    names = set()
    for sub in cls.__subclasses__():
        names |= {sub.__name__, *_model_names(sub)}
    return names


def _load(model: type[Model], spec: str | Path, kind: str, overrides) -> Model:
    path = resolve(spec, kind)
    overrides = list(overrides)
    data = apply_overrides(read_yaml(path), overrides)
    return validate(model, data, path, tuple(key for key, _ in overrides))


def load_hardware(spec: str | Path = "sat", overrides=()) -> HardwareConfig:
    """Hardware preset name or YAML file, plus ``(dotted.path, value)`` overrides."""
    return _load(HardwareConfig, spec, "configs", overrides)


def load_dataflow(spec: str | Path = "sat", overrides=()) -> DataflowPolicy:
    """Dataflow preset name or YAML file, plus ``(dotted.path, value)`` overrides."""
    return _load(DataflowPolicy, spec, "dataflows", overrides)
