import os
import shutil
import subprocess
import sys

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def cli():
    """Run the ``satsim`` command; returns the CompletedProcess (text mode)."""

    def run(*args, cwd=None):
        exe = shutil.which("satsim")
        cmd = [exe, *args] if exe else [sys.executable, "-m", "satsim", *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)

    return run
