"""SAT's numbers, frozen: every shipped workload under the ``sat``, ``plain`` and ``naive``
dataflows gives the cycles, DRAM bytes, energy, per-phase and per-unit busy cycles, action
counts and buffer peaks recorded in ``tests/data/golden/sat-machine.json``.

The file was written before the machine became data (issue "The machine as data"), so any
refactoring of the hardware description, the Program builder or the clocks must leave every
one of these numbers identical. Regenerate only for an intended change of the model::

    python tests/test_golden_machine.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from satsim.config import load_dataflow, load_hardware
from satsim.simulate import simulate
from satsim.trace.workload import load_workload, resolve_workload, shipped_workloads

GOLDEN = Path(__file__).parent / "data" / "golden" / "sat-machine.json"
DATAFLOWS = ("sat", "plain", "naive")


# The full-size LLM traces take minutes per run today: their numbers are frozen once the
# offline scheduler's issue makes them affordable; the tiny LLaMA captures stand for them.
LARGE = ("llama2-7b-",)


def _workloads() -> list[str]:
    return [name for name, path in shipped_workloads().items()
            if path.stem == name and not name.startswith(LARGE)]


def measure(workload: str, dataflow: str) -> dict:
    """The numbers a run of ``workload`` on ``sat`` under ``dataflow`` is judged by."""
    hw, policy = load_hardware("sat"), load_dataflow(dataflow)
    result = simulate(load_workload(resolve_workload(workload)), hw, policy)
    return {
        "cycles": result.cycles,
        "dram_read_bytes": result.total("dram_read_bytes"),
        "dram_write_bytes": result.total("dram_write_bytes"),
        "energy_j": result.energy_j,
        "busy_by_unit": dict(sorted(result.busy.items())),
        "busy_by_phase": {t.phase: t.busy_cycles for t in result.phase_totals()},
        "actions": result.action_totals(),
        "buffer_peaks": {name: peak for name, (_, peak) in sorted(result.buffers.items())},
    }


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("workload", _workloads())
def test_sat_is_unchanged_bit_for_bit(workload, dataflow):
    """Every recorded number of the run equals the golden file's, exactly."""
    assert measure(workload, dataflow) == _golden()[f"{workload} {dataflow}"]


def test_the_golden_file_covers_every_shipped_workload():
    """No shipped workload or dataflow of the list is missing from the golden file."""
    expected = {f"{w} {d}" for w in _workloads() for d in DATAFLOWS}
    assert set(_golden()) == expected


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    golden = {f"{w} {d}": measure(w, d) for w in _workloads() for d in DATAFLOWS}
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(golden)} runs")
