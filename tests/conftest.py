import os
import shutil
import subprocess
import sys

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests time the offline scheduler's search; the schedule cache's own tests switch it on in
# a temporary folder.
os.environ.setdefault("SATSIM_CACHE_DIR", "off")


@pytest.fixture
def cli():
    """Run the ``satsim`` command; returns the CompletedProcess (text mode)."""

    def run(*args, cwd=None):
        exe = shutil.which("satsim")
        cmd = [exe, *args] if exe else [sys.executable, "-m", "satsim", *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)

    return run
