"""Where the shipped data (presets, dataflows, workloads) lives, what each file is, and the one
rule that tells a shipped name from a file.

In a source checkout it is the repository's top-level ``configs/``, ``dataflows/`` and
``workloads/``; in an installed wheel the same folders are packaged as ``satsim/_data/``.

**Names and files** (every option that takes either, :func:`find`): a value with a ``/`` or a
file suffix (:data:`FILE_SUFFIXES`) is a file path; any other value is a bare name, and a bare
name is the shipped one of that name even when a file or folder of that name is in the working
folder (a :class:`ShadowWarning` then says so: ``./NAME`` picks the file). A bare name that is
no shipped name but an existing file is that file. A :class:`~pathlib.Path` is always a file.
Light on purpose: ``satsim list`` reads the descriptions without the config models.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from satsim.errors import SatsimError

_PACKAGE = Path(__file__).resolve().parent
KINDS = ("configs", "dataflows", "workloads", "configs/energy", "configs/sweeps")
DEFAULT_WORKLOAD = "resnet18-cifar"  # its BDWP 2:8 capture: what `satsim run` simulates
# The SAT paper's five models (Fang et al., TCAD 2023), as shipped captures: `satsim compare`.
PAPER_MODELS = ("resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar",
                "resnet50-imagenet")


def data_dir(kind: str) -> Path:
    """Directory holding the shipped files of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}")
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"satsim's {kind}/ folder is missing from this installation")


@functools.cache
def shipped(kind: str, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Shipped files of ``kind`` by name (file stem), for name lookup and listings.

    Cached: the installation does not change while a process runs (sweeps look names up
    once per point). Callers must not modify the mapping.
    """
    found: dict[str, Path] = {}
    for path in sorted(data_dir(kind).iterdir()):
        for suffix in suffixes:
            if path.name.endswith(suffix):
                found.setdefault(path.name[: -len(suffix)], path)
    return found


# What makes a value a file path rather than a name: the suffixes of the files satsim reads.
FILE_SUFFIXES = (".yaml", ".yml", ".jsonl", ".csv", ".json")


class ShadowWarning(UserWarning):
    """A bare name chose a shipped file while a file or folder of that name is here too."""


def is_name(value: str | Path) -> bool:
    """Whether ``value`` is a bare name: a string with no ``/`` and no file suffix."""
    return (isinstance(value, str) and "/" not in value and os.sep not in value
            and not value.lower().endswith(FILE_SUFFIXES))


def find(value: str | Path, shipped_files: Mapping[str, Path], what: str, *,
         beside: Path | None = None) -> Path:
    """The file a name-or-file option means, by the one rule (see the module doc).

    Parameters
    ----------
    value
        The option's value: a name or a file path.
    shipped_files
        The shipped names and their files.
    what
        What a shipped one is called in messages (``preset``, ``workload``, ...).
    beside
        The folder of the file that names ``value`` (a sweep spec, a hardware file): a
        relative path is looked for there first, then from the working folder.

    Raises
    ------
    SatsimError
        Nothing of that name or path (an unknown name lists the shipped ones), or not a
        regular file.
    """
    text = str(value)
    if len(text) > 200:  # a value too long for any file: no message echoes all of it
        raise SatsimError("no such file or shipped name", source=f"{text[:80]}...{text[-40:]}")
    if not text.strip():
        raise SatsimError(f"an empty name: give a shipped {what} or a file", source=repr(text))
    folders = [beside] if beside is not None and not os.path.isabs(text) else []
    candidates = [folder / text for folder in folders] + [Path(text)]
    if is_name(value) and text in shipped_files:
        chosen = shipped_files[text]
        here = next((c for c in candidates if os.path.lexists(c)), None)
        if here is not None:
            kind = "folder" if os.path.isdir(here) else "file"
            # As one path whichever folder found it, so one clash is one (deduplicated) line.
            relative = os.path.relpath(here)
            shown = here if relative.startswith("..") else f"./{relative}"
            warnings.warn(f"{text}: using the shipped {chosen.parent.name}/{chosen.name}, not "
                          f"the {kind} {shown} (write ./{text} for the {kind})",
                          ShadowWarning, stacklevel=1)  # here: one line per message and run
        return chosen
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    if any(os.path.lexists(c) for c in candidates):
        raise SatsimError("not a regular file", source=text)
    if is_name(value):
        names = ", ".join(shipped_files) or "none"
        raise SatsimError(f"no such file or {what} (shipped: {names})", source=text)
    raise SatsimError("no such file", source=text)


_METHOD_NAMES = {"bdwp": "BDWP", "srste": "SR-STE"}


def describe(path: Path) -> str:
    """One line on what a shipped file is: a YAML preset's ``description``, or what a
    captured trace records (from its header); ``""`` if it says nothing."""
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.load(path.read_text(encoding="utf-8"),  # noqa: S506 (a safe loader)
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return str(data.get("description") or "") if isinstance(data, dict) else ""
    if path.suffix != ".jsonl":
        return ""
    with path.open(encoding="utf-8") as handle:
        head = json.loads(handle.readline())
    meta = head.get("meta", {})
    if head.get("source") != "satsim capture":
        return head.get("source", "")
    method = meta.get("method", "?")
    what = "dense" if method == "dense" else (
        f"{_METHOD_NAMES.get(method, method)} {meta.get('nm', '?')}")
    optimizer = meta.get("optimizer", "sgd-momentum")
    facts = [f"batch {meta.get('batch', '?')}",
             *(f"{key} {value}" for key, value in meta.get("options", {}).items()),
             head.get("precision") or "fp32",
             *([optimizer] if optimizer != "sgd-momentum" else []),
             "shapes only" if meta.get("shapes_only") else f"{meta.get('dataset', '?')} data"]
    dump = "; tensor dump for satsim validate" if path.with_suffix(".npz").exists() else ""
    return f"{meta.get('model', '?')}: one {what} training iteration ({', '.join(facts)}){dump}"
