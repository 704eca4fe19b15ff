"""Where the shipped data (presets, dataflows, workloads) lives.

In a source checkout it is the repository's top-level ``configs/``, ``dataflows/`` and
``workloads/``; in an installed wheel the same folders are packaged as ``satsim/_data/``.
"""

from __future__ import annotations

import functools
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
