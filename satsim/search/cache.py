"""The schedule cache: each design point's offline schedule, searched once and kept on disk.

Entries are keyed by the SHA-256 of the workload, hardware and dataflow a schedule is made for
and of satsim's scheduling code (:func:`cache_dir`: ``$SATSIM_CACHE_DIR``, else
``$XDG_CACHE_HOME/satsim``, else ``~/.cache/satsim``; ``SATSIM_CACHE_DIR=off`` or
``--no-cache`` disables it). A cache that cannot be read or written costs only time: the run
searches.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from satsim import __version__
from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.files import write_text
from satsim.schedule.choices import Schedule, parse_schedule, sha256_of
from satsim.trace.schema import Trace

CACHE_ENV = "SATSIM_CACHE_DIR"

# The disk cache. Its key covers the code that makes schedules, so a changed scheduler
# never reuses an old choice.
_CODE = ("machine", "mapping", "schedule", "search", "timing")


def cache_dir() -> Path | None:
    """The cache's folder: ``$SATSIM_CACHE_DIR`` (``off``: no cache), else
    ``$XDG_CACHE_HOME/satsim`` (if absolute, as the XDG base directory spec asks), else
    ``~/.cache/satsim`` (None without a home folder)."""
    where = os.environ.get(CACHE_ENV, "")
    if where == "off":
        return None
    if where:
        return Path(where)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "satsim"
    try:
        return Path.home() / ".cache" / "satsim"
    except RuntimeError:  # no home folder to be found
        return None


@contextlib.contextmanager
def caching_off() -> Iterator[None]:
    """No cache inside (``--no-cache``), in this process and in the worker processes it
    starts, which inherit the environment."""
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = "off"
    try:
        yield
    finally:
        if before is None:
            del os.environ[CACHE_ENV]
        else:
            os.environ[CACHE_ENV] = before


@functools.cache
def _code_hash() -> str:
    """The hash of satsim's scheduling code, read once per process."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    for package in _CODE:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_path(inputs: dict) -> Path | None:
    """Where the schedule of these inputs (a :func:`fingerprint`) is cached (None: caching
    off)."""
    folder = cache_dir()
    if folder is None:
        return None
    key = sha256_of(_code_hash() + "".join(v["sha256"] for v in inputs.values()))
    return folder / "schedules" / f"{key}.json"


def cached(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
           inputs: dict) -> Schedule | None:
    """The cached schedule of these inputs (``inputs``: their :func:`fingerprint`), if any:
    an entry or a folder that cannot be read, or an entry changed since it was written (its
    checksum), counts as none."""
    path = _cache_path(inputs)
    if path is None:
        return None
    try:
        if not path.is_file():
            return None
        entry = json.loads(path.read_bytes())
        doc = entry["schedule"]
        if entry["sha256"] != sha256_of(_entry_text(doc)):  # damaged since it was written
            return None
        return parse_schedule(doc, str(path), trace, hw, policy, inputs)
    except (OSError, ValueError, TypeError, KeyError, RecursionError, SatsimError):
        return None


def cache(schedule: Schedule) -> None:
    """Store ``schedule`` under the inputs it names; a cache that cannot be written (read-only,
    not a folder, not ours) is skipped: it only saves time."""
    path = _cache_path(schedule.inputs)
    if path is None:
        return
    doc = schedule.to_doc()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps({"sha256": sha256_of(_entry_text(doc)), "schedule": doc}))
    except (OSError, SatsimError):
        pass


def _entry_text(doc: dict) -> str:
    """What a cache entry's checksum covers: its schedule, as compact JSON."""
    return json.dumps(doc, separators=(",", ":"))
