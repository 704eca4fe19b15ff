"""The one input boundary for configs: YAML (file or preset) + overrides -> typed object."""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from satsim.config.dataflow import DataflowPolicy
from satsim.config.hardware import HardwareConfig
from satsim.errors import SatsimError
from satsim.files import read_text
from satsim.resources import find, shipped

Model = TypeVar("Model", bound=BaseModel)
_YAML = (".yaml", ".yml")


def resolve(spec: str | Path, kind: str) -> Path:
    """The file behind a preset name or a YAML path of ``kind`` (``configs`` or ``dataflows``),
    by the rule of :func:`satsim.resources.find`."""
    return find(spec, shipped(kind, _YAML), "preset")


_FAST_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_FAST_SAFE):
    """libyaml's safe loader where PyYAML has it, but a key given twice in one mapping is an
    error, not a silent 'last one wins'. libyaml is 8x faster on a ResNet-50 schedule, and
    its nesting limit (1000) rejects a deep document at once, where PyYAML's own scanner
    takes seconds (quadratic in the depth: seconds for 10,000 nested lists)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            except TypeError:  # an unhashable key (a list): PyYAML reports it below
                pass
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, with errors that name the file and the line.

    Parses are cached by (path, size, modification time): a sweep loads the same preset once
    per point, and parsing is most of that cost. Callers get their own copy.
    """
    return copy.deepcopy(_shared_yaml(path))


def _shared_yaml(path: Path) -> dict[str, Any]:
    """The cached parse itself: callers must not modify it."""
    try:
        info = path.stat()
    except OSError:
        return parse_yaml(path)  # read_text reports the problem
    return _cached_yaml(str(path), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _cached_yaml(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    return parse_yaml(Path(path))


def parse_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``, uncached; errors name the file and the line."""
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        # A reader's error (a control character) has no problem: its first line says it.
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SatsimError(f"malformed YAML: {reason}", source=path, field=where) from None
    except RecursionError:
        raise SatsimError("malformed YAML: nested too deeply", source=path) from None
    except (ValueError, AttributeError) as exc:  # PyYAML lets some bad scalars escape as these
        raise SatsimError(f"malformed YAML: {exc}", source=path) from None
    if not isinstance(data, dict):
        raise SatsimError("expected a mapping of keys to values at the top level", source=path)
    return data


def parse_overrides(items: list[str] | tuple[str, ...],
                    option: str = "--set") -> list[tuple[str, Any]]:
    """``["array.rows=16", ...]`` -> ``[("array.rows", 16), ...]``; values are YAML scalars.
    Errors name ``option``, the command-line option the items came from."""
    parsed = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            form = "dotted.path=value" if option == "--set" else "KEY=VALUE"
            raise SatsimError(f"expected {form}, got {item!r}", source=option)
        try:
            # libyaml when present: same YAML, a sweep worker parses thousands of these.
            value = yaml.load(raw, Loader=_FAST_SAFE) if raw.strip() else ""  # noqa: S506
        except yaml.YAMLError:
            value = raw
        except (ValueError, AttributeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise SatsimError(f"cannot read the value of {key.strip()}: {reason}",
                              source=option) from None
        parsed.append((key.strip(), value))
    return parsed


def split_overrides(items: Sequence[str]) -> tuple[list, list]:
    """``--set`` items -> (hardware, dataflow) ``(dotted.path, value)`` lists."""
    return split_pairs(parse_overrides(list(items)))


def split_pairs(pairs) -> tuple[list, list]:
    """``(dotted.path, value)`` pairs -> (hardware, dataflow) lists (``dataflow.`` stripped)."""
    hardware, dataflow = [], []
    for key, value in pairs:
        if key.startswith("dataflow."):
            dataflow.append((key.removeprefix("dataflow."), value))
        else:
            hardware.append((key.removeprefix("hw."), value))
    return hardware, dataflow


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
        try:  # the caller's value stays theirs when a later override sets inside it
            node[leaf] = copy.deepcopy(value)
        except RecursionError:
            raise SatsimError(f"the value of {key} is nested too deeply", source="--set") from None
    return data


def validate(
    model: type[Model], data: dict[str, Any], source: str | Path, overridden: tuple[str, ...] = (),
    prefix: str = "",
) -> Model:
    """Build ``model`` from ``data``; the first problem becomes a :class:`SatsimError`.

    ``overridden`` lists the dotted keys set on the command line (as ``--set {prefix}key``),
    so that an error in one of them names the override rather than the file.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where, reason = first_problem(exc)
        loc = ".".join(str(p) for p in where) or "(top level)"
        override = next((key for key in overridden if loc == key or loc.startswith(key + ".")
                         or key.startswith(loc + ".")), None)
        if override is not None:  # the user's --set, not the shipped file, is at fault
            raise SatsimError(f"{reason} (applied to {Path(source).name})",
                              source=f"--set {prefix}{override}",
                              field=loc if loc != override else None) from None
        raise SatsimError(reason, source=source, field=loc) from None
    except RecursionError:
        raise SatsimError("nested too deeply", source=source) from None


def first_problem(exc: ValidationError) -> tuple[tuple[str | int, ...], str]:
    """The problem of ``exc`` to report: its location (keys and list indices) and reason."""
    # Of a union's alternatives, the deepest location is the one the user meant; at equal
    # depth, the alternative of the input's type, then a structured one over a literal.
    err = max(exc.errors(), key=lambda e: (
        len(e["loc"]), e["type"] not in _WRONG_TYPE,
        not any(str(p).startswith("literal[") for p in e["loc"])))
    where = tuple(p for p in err["loc"] if not _is_union_member(p))
    reason = {"extra_forbidden": "unknown key", "missing": "required key is missing",
              "model_type": "Input should be a valid dictionary"}.get(  # not our class name
        err["type"], err["msg"].removeprefix("Value error, "))
    return where, reason


_WRONG_TYPE = {"model_type", "dict_type", "model_attributes_type"}


def _is_union_member(part: object) -> bool:
    # pydantic names the tried union member in the location: literal[...] or a model name.
    return isinstance(part, str) and (part.startswith(("literal[", "function-after["))
                                      or part in _model_names())


def _model_names(cls: type[BaseModel] = BaseModel) -> set[str]:
    names = set()
    for sub in cls.__subclasses__():
        names |= {sub.__name__, *_model_names(sub)}
    return names


def _load(model: type[Model], spec: str | Path, kind: str, overrides, prefix: str = "") -> Model:
    path = resolve(spec, kind)
    overrides = list(overrides)
    data = apply_overrides(_shared_yaml(path), overrides)  # the one deep copy
    return validate(model, data, path, tuple(key for key, _ in overrides), prefix)


def load_hardware(spec: str | Path = "sat", overrides=()) -> HardwareConfig:
    """Hardware preset name or YAML file, plus ``(dotted.path, value)`` overrides.

    Its energy table is loaded and validated too; a table given as a relative path is found
    beside the hardware file, then from the working folder (from the working folder only when
    an override names it), and kept as an absolute path."""
    hw = _load(HardwareConfig, spec, "configs", overrides)
    if hw.energy is None:
        return hw
    from satsim.energy.table import load_energy_table, resolve_table, shipped_tables

    base = resolve(spec, "configs")
    named_here = any(key in ("energy", "energy.table") for key, _ in overrides)
    try:
        table = resolve_table(hw.energy.table, None if named_here else base.parent)
    except SatsimError as exc:
        if named_here:
            raise SatsimError(str(exc), source="--set energy") from None
        raise SatsimError(str(exc), source=base, field="energy.table") from None
    if table != shipped_tables().get(hw.energy.table):  # a file, not a shipped name
        table = table.resolve()
        hw = hw.model_copy(update={"energy": hw.energy.model_copy(update={"table": str(table)})})
    load_energy_table(table)
    return hw


def load_dataflow(spec: str | Path = "sat", overrides=()) -> DataflowPolicy:
    """Dataflow preset name or YAML file, plus ``(dotted.path, value)`` overrides."""
    return _load(DataflowPolicy, spec, "dataflows", overrides, prefix="dataflow.")


def input_files(hardware: str | Path, dataflow: str | Path,
                overrides: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """The files a machine is read from, as ``(option, path)``: ``--hw``, ``--dataflow`` and
    the energy table. For the check that an output overwrites none of them."""
    from satsim.energy.table import resolve_table

    hw = load_hardware(hardware, split_overrides(overrides)[0])
    files = [("--hw", resolve(hardware, "configs")), ("--dataflow", resolve(dataflow, "dataflows"))]
    if hw.energy is not None:
        files.append(("the energy table", resolve_table(hw.energy.table)))
    return files
