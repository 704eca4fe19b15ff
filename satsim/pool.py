"""The local process pool that ``satsim sweep`` and ``satsim compare`` spread runs over."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from satsim.errors import SatsimError


def worker_count(workers: int | None) -> int:
    """``workers``, or every core when None; checked."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if not 1 <= workers <= 1024:
        raise SatsimError(f"must be 1..1024, got {workers}", source="--workers")
    return workers


def local_pool(workers: int) -> ProcessPoolExecutor:
    """The standard library's process pool. Forked workers inherit the parent's imports and
    parsed traces; fork is Linux's default before Python 3.14, which moves to forkserver."""
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)
