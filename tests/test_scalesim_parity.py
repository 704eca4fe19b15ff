"""SCALE-Sim 3.0.0 parity: satsim's closed forms give SCALE-Sim's compute cycles exactly.

The fixture ``tests/data/scalesim/parity.json`` holds SCALE-Sim's own per-layer numbers
(recorded by ``benchmarks/scalesim_parity.py``; SCALE-Sim itself is not needed here). Topology
rows go through satsim's importer, so the row -> (m, k, n) mapping is checked too. The
conventions are written out in ``docs/scalesim.md``.
"""

import json
import tempfile
from functools import cache
from pathlib import Path

import pytest

from satsim.machine.scalesim import (
    scalesim_compressed_k,
    scalesim_compute_cycles,
    scalesim_conv_gemm,
    scalesim_folds,
    scalesim_op_cycles,
    scalesim_output_size,
)
from satsim.trace import read_csv_workload
from satsim.trace.schema import GemmOp
from satsim.types import NMPattern, Phase

DATA = Path(__file__).parent / "data" / "scalesim"
FIXTURE = json.loads((DATA / "parity.json").read_text())
CASES = {case["id"]: case for case in FIXTURE["cases"]}


@cache
def _layers(case_id: str) -> tuple[tuple[str, GemmOp], ...]:
    """The case's topology through satsim's importer, as SCALE-Sim's layers (a depthwise op is
    one layer per channel, named as SCALE-Sim names it)."""
    topology = CASES[case_id]["topology"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topology.csv"
        if "file" in topology:
            path = DATA / "topologies" / topology["file"]
        else:
            path.write_text(topology["text"])
        ops = read_csv_workload(path).gemms
    return tuple((f"{op.layer}Channel_{c}" if "DP" in op.layer else op.layer, op)
                 for op in ops for c in range(op.batch))


def _predicted(case: dict, op: GemmOp) -> int:
    rows, cols = case["array"]
    pattern = op.sparsity if case["sparsity_support"] else None
    return scalesim_compute_cycles(op.M, op.K, op.N, rows, cols, case["dataflow"], pattern)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_compute_cycles_equal_scalesim(case_id):
    """Every layer of every recorded SCALE-Sim run: the importer yields SCALE-Sim's layers (same
    count, names and order) and ``scalesim_compute_cycles`` its 'Total Cycles' minus
    'Stall Cycles', exactly."""
    case = CASES[case_id]
    layers = _layers(case_id)
    assert [name for name, _ in layers] == [x["name"] for x in case["layers"]]
    got = [_predicted(case, op) for _, op in layers]
    assert got == [x["compute_cycles"] for x in case["layers"]]


def test_compute_cycles_do_not_depend_on_memory():
    """Where SCALE-Sim's memory stalls (a starved USER bandwidth), 'Total Cycles' grows by the
    stalls and 'Total Cycles - Stall Cycles' is still the closed form."""
    stalled = [(case, op, layer) for case in FIXTURE["cases"]
               for (_, op), layer in zip(_layers(case["id"]), case["layers"], strict=True)
               if layer["stall_cycles"] > 0]
    assert len(stalled) >= 3
    for case, op, layer in stalled:
        assert layer["total_cycles"] == layer["compute_cycles"] + layer["stall_cycles"]
        assert _predicted(case, op) == layer["compute_cycles"]
    calc = [x for case in FIXTURE["cases"] if case["memory"] == "calc" for x in case["layers"]]
    assert all(x["stall_cycles"] == 0 for x in calc)


def test_sparsity_column_is_ignored_without_sparsity_support():
    """With 'SparsitySupport : false' SCALE-Sim runs an N:M row dense: the same cycles as the
    dense closed form, while with support on the same row is faster."""
    off = CASES["gemm-nm-ignored/8x8/ws"]
    on = CASES["gemm-nm/8x8/ws"]
    for x_off, x_on in zip(off["layers"], on["layers"], strict=True):
        assert x_off["name"] == x_on["name"]
    s2_4 = next(x for x in off["layers"] if x["name"] == "s2_4")
    assert s2_4["compute_cycles"] == scalesim_compute_cycles(20, 13, 10, 8, 8, "ws", None)
    assert next(x for x in on["layers"] if x["name"] == "s2_4")["compute_cycles"] < \
        s2_4["compute_cycles"]


def test_overall_util_counts_dense_macs():
    """SCALE-Sim's 'Overall Util %' is dense MACs / (Total Cycles x R x C): with N:M it can
    exceed 100 %."""
    over = 0
    for case in FIXTURE["cases"]:
        rows, cols = case["array"]
        for (_, op), x in zip(_layers(case["id"]), case["layers"], strict=True):
            util = 100 * op.M * op.K * op.N / (x["total_cycles"] * rows * cols)
            assert util == pytest.approx(x["overall_util_pct"], abs=1e-6)  # recorded to 6 dp
            over += util > 100
    assert over > 0


def test_fixture_covers_the_brief():
    """The recorded runs cover WS/OS/IS on tiny, square and rectangular arrays, dense and
    several N:M (K divisible by M or not), conv and GEMM rows, depthwise rows, stalls and
    shipped topology files end to end, >= 150 layers in all."""
    cases = FIXTURE["cases"]
    assert sum(len(c["layers"]) for c in cases) >= 150
    assert {c["dataflow"] for c in cases} == {"ws", "os", "is"}
    arrays = {tuple(c["array"]) for c in cases}
    assert {(4, 4), (8, 8), (8, 32), (32, 8), (16, 16), (32, 32), (3, 5)} <= arrays
    texts = "".join(c["topology"].get("text", "") for c in cases if c["sparsity_support"])
    assert all(p in texts for p in ("1:2", "2:4", "1:4", "2:8", "1:8", "3:7"))
    assert {c["topology"]["kind"] for c in cases} == {"conv", "gemm"}
    assert any("Channel_" in x["name"] for c in cases for x in c["layers"])
    assert sum("file" in c["topology"] for c in cases) >= 3
    assert FIXTURE["scalesim"]["version"] == "3.0.0"


def _shipped_readable():
    return sorted(k for k, v in FIXTURE["shipped_dims"].items() if "layers" in v)


@pytest.mark.parametrize("name", _shipped_readable())
def test_shipped_topologies_map_to_scalesim_gemms(name):
    """For every shipped topology SCALE-Sim's own reader accepts, satsim's importer yields the
    same layers: (m, k, n) and sparsity, in order, a depthwise row as one layer per channel."""
    expected = [tuple(x) for x in FIXTURE["shipped_dims"][name]["layers"]]
    trace = read_csv_workload(DATA / "topologies" / name)
    got = [(op.M, op.K, op.N, "1:1" if op.sparsity is None else str(op.sparsity))
           for op in trace.gemms for _ in range(op.batch)]
    assert got == expected


def test_closed_forms_by_hand():
    """Worked example (M=20, K=13, N=10 on 4x4): WS 12 folds of T=20 -> 12*(8+4+20-2)-1 = 359;
    OS 15 folds of T=13 -> 15*(4+4+13-2)-1 = 284; IS 20 folds of T=10 -> 20*(8+4+10-2)-1 = 399;
    with 2:4, K' = 3*2 + min(1, 2) = 7."""
    assert scalesim_folds(20, 13, 10, 4, 4, "ws") == (12, 20)
    assert [scalesim_compute_cycles(20, 13, 10, 4, 4, df) for df in ("ws", "os", "is")] == \
        [359, 284, 399]
    assert scalesim_compressed_k(13, NMPattern(2, 4)) == 7
    assert scalesim_compressed_k(13, NMPattern(3, 7)) == 6
    assert scalesim_compressed_k(7, NMPattern(2, 8)) == 2
    assert scalesim_compressed_k(13, None) == 13
    assert scalesim_compute_cycles(20, 13, 10, 4, 4, "ws", NMPattern(2, 4)) == 179


def test_conv_rows_as_scalesim_gemms():
    """A conv row: m = batch*Eh*Ew with ceil'd output sizes, k = FH*FW*C, n = filters; a
    depthwise row is C layers of k = FH*FW."""
    assert scalesim_output_size(224, 11, 4) == 55
    assert scalesim_output_size(224, 7, 2) == 110
    assert scalesim_output_size(5, 5, 3) == 1
    assert scalesim_conv_gemm(224, 224, 11, 11, 3, 96, 4) == (55 * 55, 363, 96, 1)
    assert scalesim_conv_gemm(7, 7, 3, 3, 3, 2, 2, depthwise=True) == (9, 9, 2, 3)
    assert scalesim_conv_gemm(16, 16, 3, 3, 8, 32, 1, batch=4) == (4 * 196, 72, 32, 1)
    with pytest.raises(ValueError, match="filter <= ifmap"):
        scalesim_output_size(5, 6, 1)


def test_op_cycles_repeat_depthwise_and_transpose_weight_a():
    """``scalesim_op_cycles`` runs a batched (depthwise) op as ``batch`` layers and an op whose
    weight is operand A transposed; sparsity_support=False runs it dense."""
    op = GemmOp(phase=Phase.FF, layer="dw", M=9, K=9, N=2, batch=3, weight="B",
                sparsity=NMPattern(2, 4))
    one = scalesim_compute_cycles(9, 9, 2, 4, 4, "os", NMPattern(2, 4))
    assert scalesim_op_cycles(op, 4, 4, "os") == 3 * one
    assert scalesim_op_cycles(op, 4, 4, "os", sparsity_support=False) == \
        3 * scalesim_compute_cycles(9, 9, 2, 4, 4, "os")
    wa = GemmOp(phase=Phase.WG, layer="w", M=5, K=7, N=11, weight="A")
    assert scalesim_op_cycles(wa, 4, 4, "ws") == scalesim_compute_cycles(11, 7, 5, 4, 4, "ws")
    with pytest.raises(ValueError, match="dataflow"):
        scalesim_compute_cycles(1, 1, 1, 4, 4, "rs")
