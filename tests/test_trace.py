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
    with pytest.raises(SatsimError, match=r"line 3: records: the end record counts 2, the file "
                       r"has 1"):
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


def _shipped_with_maskgen(tmp_path, change) -> tuple[str, int]:
    """The resnet18-cifar bdwp capture with its first maskgen record changed (``change`` is
    applied to the record's dict): the file and that record's line number."""
    from satsim.resources import shipped

    lines = shipped("workloads", (".jsonl",))["resnet18-cifar-bdwp"].read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if '"kind":"maskgen"' in line)
    record = json.loads(lines[at])
    change(record)
    lines[at] = json.dumps(record)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path), at + 1


@pytest.mark.parametrize("sparsity", [None, "dense"])
def test_a_maskgen_record_without_a_pattern_is_rejected(tmp_path, sparsity):
    """A maskgen record whose sparsity is null (or dense) names the line and the field: a
    mask is generated for an N:M pattern."""
    path, line = _shipped_with_maskgen(tmp_path, lambda r: r.update(sparsity=sparsity))
    with pytest.raises(SatsimError, match=f"line {line}: sparsity: expected 'N:M': a mask is "
                                          "generated for an N:M pattern, never dense"):
        read_trace(path)


def test_a_maskgen_record_must_read_the_weight(tmp_path):
    """A maskgen record without reads (the dense weight it prunes) breaks the graph: the
    error names the line and the layer."""
    path, line = _shipped_with_maskgen(tmp_path, lambda r: r.pop("reads"))
    with pytest.raises(SatsimError, match=rf"line {line}: maskgen layer1\.0\.conv1: reads must "
                                          r"be one tensor, the dense weight, got \[\]"):
        read_trace(path)


def test_a_maskgen_record_must_write_values_and_index(tmp_path):
    """A maskgen record writing only its compressed values (no index) breaks the graph."""
    path, line = _shipped_with_maskgen(tmp_path, lambda r: r.update(writes=r["writes"][:1]))
    with pytest.raises(SatsimError, match=rf"line {line}: maskgen layer1\.0\.conv1: writes must "
                                          r"be the compressed values and their index"):
        read_trace(path)


def test_a_gemm_phase_error_lists_the_phases_as_text(tmp_path):
    """A GEMM record in another phase lists the three a GEMM may have, as written in a trace
    ('FF'), never as the enum's repr (<Phase.FF: 'FF'>)."""
    path = _write(tmp_path, [HEADER, {**OP, "phase": "WU"}, {"kind": "end", "records": 1}])
    with pytest.raises(SatsimError, match=r"line 2: phase: Input should be 'FF', 'BP' or 'WG'$"):
        read_trace(path)


@pytest.mark.parametrize("count", ["1", 1.0, True, None])
def test_an_end_count_that_is_no_whole_number_says_so(tmp_path, count):
    """An end record whose count is text, a float or a boolean (equal to the file's count
    or not) is rejected as such, never as "counts 1 records, file has 1"."""
    path = _write(tmp_path, [HEADER, OP, {"kind": "end", "records": count}])
    with pytest.raises(SatsimError, match=r"line 3: records: expected the end record's count, "
                                          rf"a whole number, got {json.dumps(count)}$"):
        read_trace(path)


def test_an_end_record_with_an_unknown_field_is_rejected(tmp_path):
    """The end record holds the counts only: another field is an error, as in any record."""
    path = _write(tmp_path, [HEADER, OP, {"kind": "end", "records": 1, "colour": 1}])
    with pytest.raises(SatsimError, match=r"line 3: end record: unknown field 'colour'"):
        read_trace(path)
