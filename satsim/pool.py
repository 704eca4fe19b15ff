"""The local process pool that ``satsim sweep`` and ``satsim compare`` spread runs over."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

from satsim.errors import SatsimError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def worker_count(workers: int | None) -> int:
    """``workers``, or every core when None; checked."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if not 1 <= workers <= 1024:
        raise SatsimError(f"must be 1..1024, got {workers}", source="--workers")
    return workers


def local_pool(workers: int) -> ProcessPoolExecutor:
    """The standard library's process pool. Forked workers inherit the parent's imports and
    parsed traces; fork is Linux's default before Python 3.14, which moves to forkserver.

    On Linux each worker dies with the process that made the pool: a pool's workers outlive a
    parent killed by SIGKILL (no ``atexit``, no shutdown), adopted by init, otherwise.
    """
    if sys.platform != "linux":
        return ProcessPoolExecutor(max_workers=workers)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=die_with_parent, initargs=(os.getpid(),))


def die_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGKILL when ``parent`` ends (Linux's
    ``prctl(PR_SET_PDEATHSIG)``, prctl(2)); exit now if it has ended already."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died between the fork and the prctl: then this process was adopted
    # already and no signal will come.
    if os.getppid() != parent:
        os._exit(1)
