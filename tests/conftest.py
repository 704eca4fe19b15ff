import os
import shutil
import subprocess
import sys

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests time the offline scheduler's search; the schedule cache's own tests switch it on in
# a temporary folder, and modules whose tests are about results, not the search, share one
# per module (schedule_cache).
os.environ.setdefault("SATSIM_CACHE_DIR", "off")


@pytest.fixture(scope="module")
def schedule_cache(tmp_path_factory: pytest.TempPathFactory):
    """A schedule cache for one module's tests (and the commands they start), in a fresh
    folder: a search an earlier test made is read back, as from a user's cache, instead of
    made again. Only for modules whose tests are not about the search or the cache."""
    folder = tmp_path_factory.mktemp("schedule-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SATSIM_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture
def cli():
    """Run the ``satsim`` command; returns the CompletedProcess (text mode)."""

    def run(*args, cwd=None):
        exe = shutil.which("satsim")
        cmd = [exe, *args] if exe else [sys.executable, "-m", "satsim", *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)

    return run
