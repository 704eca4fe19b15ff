"""Where the shipped data (presets, dataflows, workloads) lives, and what each file is.

In a source checkout it is the repository's top-level ``configs/``, ``dataflows/`` and
``workloads/``; in an installed wheel the same folders are packaged as ``satsim/_data/``.
Light on purpose: ``satsim list`` reads the descriptions without the config models.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
KINDS = ("configs", "dataflows", "workloads")
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
    facts = [f"batch {meta.get('batch', '?')}",
             *(f"{key} {value}" for key, value in meta.get("options", {}).items()),
             head.get("precision") or "fp32", f"{meta.get('dataset', '?')} data"]
    dump = "; tensor dump for satsim validate" if path.with_suffix(".npz").exists() else ""
    return f"{meta.get('model', '?')}: one {what} training iteration ({', '.join(facts)}){dump}"
