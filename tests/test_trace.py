"""Trace format: round trip, and rejection of bad files with the line number."""

import json

import pytest

from satsim.errors import SatsimError
from satsim.trace import (
    ConvParams,
    MaskGenOp,
    Trace,
    TraceHeader,
    UpdateOp,
    VectorOp,
    read_trace,
    write_trace,
)
from satsim.trace.lowering import conv_ops, linear_ops, matmul_ops
from satsim.types import NMPattern, Phase

CONV = ConvParams(batch=2, in_channels=8, out_channels=16, height=6, width=6, kernel=(3, 3),
                  stride=(2, 2), padding=(1, 1))


def _sample() -> Trace:
    records = (*conv_ops("c", CONV, sparsity={Phase.FF: NMPattern(2, 4)}),
               VectorOp(phase=Phase.FF, layer="c.relu", op="relu", elements=576),
               UpdateOp(layer="c", param="c.weight", elements=1152, optimizer="sgd"),
               MaskGenOp(layer="c", elements=1152, sparsity=NMPattern(2, 4), direction="FF"))
    return Trace(header=TraceHeader(name="s", source="test", meta={"batch": 2}), records=records)


def test_round_trip(tmp_path):
    """Every record kind survives write -> read unchanged."""
    trace = _sample()
    path = write_trace(trace, tmp_path / "s.jsonl")
    assert read_trace(path) == trace


def test_conv_lowering_matches_the_reference_table():
    """FF: M = B*Ho*Wo, K = Cin*kh*kw, N = Cout; BP: B*H*W, Cout*kh*kw, Cin; WG: Cout, B*Ho*Wo,
    Cin*kh*kw (stride 2, pad 1: 6x6 -> 3x3)."""
    ff, bp, wg = conv_ops("c", CONV)
    assert (ff.M, ff.K, ff.N) == (2 * 9, 72, 16)
    assert (bp.M, bp.K, bp.N) == (2 * 36, 144, 8)
    assert (wg.M, wg.K, wg.N) == (16, 18, 72)
    assert ff.weight == bp.weight == "B" and wg.weight is None


def test_grouped_conv_is_one_gemm_per_group():
    conv = ConvParams(batch=1, in_channels=8, out_channels=8, height=4, width=4, kernel=(3, 3),
                      padding=(1, 1), groups=8)
    (ff,) = conv_ops("dw", conv, phases=(Phase.FF,))
    assert (ff.M, ff.K, ff.N, ff.batch) == (16, 9, 1, 8)


def test_linear_and_matmul_lowering():
    ff, bp, wg = linear_ops("fc", tokens=5, in_features=7, out_features=3)
    assert [(o.M, o.K, o.N) for o in (ff, bp, wg)] == [(5, 7, 3), (5, 3, 7), (3, 5, 7)]
    ops = matmul_ops("qk", batch=4, m=10, k=8, n=10)
    assert [o.phase for o in ops] == [Phase.FF, Phase.BP, Phase.BP]
    assert all(o.weight is None and o.sparsity is None for o in ops)


def _write(tmp_path, lines, end=True) -> str:
    path = tmp_path / "t.jsonl"
    text = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines)
    path.write_text(text + ("\n" if end else ""))
    return path


HEADER = {"format": "satsim.trace", "version": 1, "name": "t"}
OP = {"kind": "gemm", "phase": "FF", "layer": "l", "M": 2, "K": 3, "N": 4, "weight": "B"}


def test_wrong_version_is_rejected(tmp_path):
    path = _write(tmp_path, [{**HEADER, "version": 3}, OP, {"kind": "end", "records": 1}])
    with pytest.raises(SatsimError, match=r"line 1: unsupported trace version 3 \(this satsim "
                       r"reads versions 1, 2\)"):
        read_trace(path)


def test_missing_end_record_is_truncation(tmp_path):
    path = _write(tmp_path, [HEADER, OP, OP])
    with pytest.raises(SatsimError, match=r"truncated: no end record after line 3"):
        read_trace(path)


def test_cut_last_line_is_truncation(tmp_path):
    path = _write(tmp_path, [HEADER, OP, json.dumps(OP)[:20]], end=False)
    with pytest.raises(SatsimError, match=r"line 3: truncated record"):
        read_trace(path)


def test_end_count_mismatch(tmp_path):
    path = _write(tmp_path, [HEADER, OP, {"kind": "end", "records": 2}])
    with pytest.raises(SatsimError, match=r"line 3: end record counts 2 records, file has 1"):
        read_trace(path)


def test_inconsistent_conv_dims_name_the_line(tmp_path):
    conv = json.loads(CONV.model_dump_json())
    bad = {**OP, "M": 99, "K": 72, "N": 16, "conv": conv}
    path = _write(tmp_path, [HEADER, OP, bad, {"kind": "end", "records": 2}])
    with pytest.raises(SatsimError, match=r"line 3: inconsistent dims"):
        read_trace(path)


@pytest.mark.parametrize(("change", "reason"), [
    ({"K": 0}, "K: Input should be greater than or equal to 1"),
        ({"K": True}, "K: Input should be a valid integer"),
        ({"M": 2**41}, "M: Input should be less than or equal to"),
    ({"phase": "XX"}, "phase: Input should be"),
    ({"sparsity": "5:4"}, "sparsity: N:M needs N < M"),
    ({"weight": None, "sparsity": "2:4"}, "sparsity needs a weight operand"),
    ({"colour": 1}, "colour: unknown field"),
])
def test_bad_records_name_line_and_field(tmp_path, change, reason):
    path = _write(tmp_path, [HEADER, {**OP, **change}, {"kind": "end", "records": 1}])
    with pytest.raises(SatsimError, match="line 2: " + reason.replace("(", r"\(")):
        read_trace(path)


def test_not_a_trace(tmp_path):
    path = _write(tmp_path, [{"hello": 1}])
    with pytest.raises(SatsimError, match="not a satsim trace"):
        read_trace(path)


def test_write_is_atomic(tmp_path):
    """Only the finished file appears; no partial sibling is left behind."""
    write_trace(_sample(), tmp_path / "s.jsonl")
    assert [p.name for p in tmp_path.iterdir()] == ["s.jsonl"]
