"""`--hw scalesim --dataflow scalesim-{ws,os,is}`: satsim's whole pipeline (importer, mapping,
engine) prints SCALE-Sim 3.0.0's per-layer compute cycles, exactly, for every recorded run."""

import json
from pathlib import Path

import pytest

from satsim.api import run
from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.mapping import map_gemm
from satsim.trace.schema import GemmOp
from satsim.types import Phase

DATA = Path(__file__).parent / "data" / "scalesim"
CASES = json.loads((DATA / "parity.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_run_prints_scalesims_cycles(case, tmp_path):
    """Per op, the engine's cycles equal SCALE-Sim's per-layer compute cycles (a depthwise op is
    SCALE-Sim's one layer per channel, summed); the run's total is their sum."""
    topology = case["topology"]
    if "file" in topology:
        path = DATA / "topologies" / topology["file"]
    else:
        path = tmp_path / "topology.csv"
        path.write_text(topology["text"])
    rows, cols = case["array"]
    report = run(path, "scalesim", f"scalesim-{case['dataflow']}",
                 method=None if case["sparsity_support"] else "dense",
                 overrides=[f"array.rows={rows}", f"array.cols={cols}"])
    expected = [layer["compute_cycles"] for layer in case["layers"]]
    got = []
    for op in report.result.rows:
        got += [op["cycles"] // op["batch"]] * op["batch"]
        assert op["cycles"] % op["batch"] == 0
    assert got == expected
    assert report.result.cycles == sum(expected)


def test_interleaving_is_refused_under_scalesim_conventions():
    """SCALE-Sim never overlaps folds: asking for interleaving is an error, not ignored."""
    op = GemmOp(phase=Phase.FF, layer="x", M=64, K=64, N=64, weight="B")
    with pytest.raises(SatsimError, match="never overlaps folds"):
        map_gemm(op, load_hardware("scalesim"), load_dataflow("sat"))


def test_input_stationary_needs_scalesim_conventions():
    """The STCE models OS and WS only: IS on the SAT preset is an error naming the field."""
    op = GemmOp(phase=Phase.FF, layer="x", M=64, K=64, N=64, weight="B")
    with pytest.raises(SatsimError, match="stationarity: input stationary exists only"):
        map_gemm(op, load_hardware("sat"), load_dataflow("scalesim-is"))
