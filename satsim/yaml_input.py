"""YAML input: a file's mapping, validated into a typed model.

The two steps of every input boundary (configs, energy tables, sweep specs, schedule files):
:func:`read_yaml` parses a file (errors name the file and the line; a key given twice is an
error) and :func:`validate` builds a pydantic model from the mapping (the first problem
becomes one :class:`~satsim.errors.SatsimError` naming the file, or the ``--set`` option, and
the field).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from satsim.errors import SatsimError
from satsim.files import read_text

Model = TypeVar("Model", bound=BaseModel)

# libyaml's safe loader where PyYAML has it, else PyYAML's own.
FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(FAST_SAFE_LOADER):
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
    return copy.deepcopy(shared_yaml(path))


def shared_yaml(path: Path) -> dict[str, Any]:
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



def validate(
    model: type[Model], data: dict[str, Any], source: str | Path, overridden: tuple[str, ...] = (),
    prefix: str = "", written: dict[str, str] | None = None,
    original: dict[str, Any] | None = None,
) -> Model:
    """Build ``model`` from ``data``; the first problem becomes a :class:`SatsimError`.

    ``overridden`` lists the dotted keys set on the command line (as ``--set {prefix}key``,
    or as ``written`` gives the key), so that an error in one of them names the override
    rather than the file; so does an error elsewhere when ``original`` (the file's data,
    before the overrides) is valid: the overrides made it.
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
                              source=f"--set {prefix}{(written or {}).get(override, override)}",
                              field=loc if loc != override else None) from None
        if overridden and original is not None and _valid(model, original):
            shown = ", ".join(f"{prefix}{(written or {}).get(key, key)}" for key in overridden)
            raise SatsimError(f"{reason} (applied to {Path(source).name})",
                              source=f"--set {shown}", field=loc) from None
        raise SatsimError(reason, source=source, field=loc) from None
    except RecursionError:
        raise SatsimError("nested too deeply", source=source) from None


def _valid(model: type[Model], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except (ValidationError, RecursionError):
        return False
    return True


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
