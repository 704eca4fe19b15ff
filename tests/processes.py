"""Processes seen through Linux's /proc: a process's descendants, and whether one still runs."""

from __future__ import annotations

import time
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the name may hold spaces and parentheses


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now: children, their children, ..."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found.update(kids)
        todo += kids
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a zombie holds no memory; its new parent
    reaps it)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def still_running(pids: set[int], seconds: float) -> set[int]:
    """The ``pids`` that still run after waiting up to ``seconds`` for all of them to end."""
    deadline = time.monotonic() + seconds
    while (left := {pid for pid in pids if running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
