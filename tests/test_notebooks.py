"""Every notebook under notebooks/ runs top to bottom without an error, on this interpreter,
and its kernel ends with it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from processes import still_running

# The notebooks repeat runs (every re-annotation's dense twin, the sweep's points of the
# N:M notebook's): their kernels share one schedule cache, as a user's.
pytestmark = pytest.mark.usefixtures("schedule_cache")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL_EXIT_S = 10  # a kernel's shutdown: a request, then SIGKILL after 5 s (jupyter_client)
# Run first, in the kernel: which Python it is, and which process.
PROBE = "import os, sys\nprint(sys.prefix)\nprint(sys.executable)\nprint(os.getpid())"


def _kernel_manager(home: Path) -> AsyncKernelManager:
    """A ``python3`` kernel that is this very interpreter.

    The ``python3`` kernelspec found on the Jupyter path may be another environment's (a
    user-wide or system install); a private spec naming ``sys.executable``, searched alone,
    makes the notebook import the satsim under test.
    """
    spec_dir = home / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (satsim tests)", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(home / "kernels")], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_without_errors(path: Path, tmp_path: Path) -> None:
    """The committed notebook has no outputs; executed in a fresh ``python3`` kernel of this
    interpreter (working directory: a temporary folder, at most 300 s per cell), every cell
    runs without raising and no cell's output is an error; the kernel process (about 1 GB
    once a notebook has run) ends when the notebook is done, not when pytest exits."""
    nb = nbformat.read(path, as_version=4)
    stale = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not stale, f"{path.name}: clear the outputs of cells {stale} before committing"

    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    (tmp_path / "cwd").mkdir()
    client = NotebookClient(nb, km=_kernel_manager(tmp_path / "jupyter"), kernel_name="python3",
                            timeout=CELL_TIMEOUT_S, allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path / "cwd")}})
    # cleanup_kc: shut the kernel down when done (or failed); nbclient leaves a kernel it was
    # handed (km=...) running by default. Raises CellExecutionError on the first error.
    client.execute(cleanup_kc=True)

    probe = "".join(out["text"] for out in nb.cells[0].outputs
                    if out.output_type == "stream" and out.name == "stdout")
    prefix, executable, kernel = probe.splitlines()
    assert (prefix, Path(executable).resolve()) == (sys.prefix, Path(sys.executable).resolve())
    assert not still_running({int(kernel)}, KERNEL_EXIT_S), "the kernel outlived its notebook"
    errors = [(i, out.get("ename")) for i, cell in enumerate(nb.cells)
              if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors
