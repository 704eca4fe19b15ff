"""CSV workloads: SCALE-Sim conv and GEMM topologies, plain name,M,K,N -- read by column name."""

from pathlib import Path

import pytest

from satsim.errors import SatsimError
from satsim.trace import read_csv_workload
from satsim.types import NMPattern, Phase

SHIPPED = Path(__file__).parent / "data" / "scalesim" / "topologies"

SCALESIM_CONV = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1     ,224         ,224        ,11           ,11          ,3       ,96        ,4      ,
Conv2     ,27         ,27        ,5            ,5           ,96      ,256       ,1      ,
"""
CONV_HEADER = SCALESIM_CONV.splitlines()[0]


def _file(tmp_path, text, name="w.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_scalesim_conv_topology(tmp_path):
    """SCALE-Sim convs are valid (the IFMAP comes padded) but count a last partial window:
    outputs = ceil((IFMAP - Filter) / Stride) + 1, so AlexNet Conv1 224 -> 55, not 54."""
    trace = read_csv_workload(_file(tmp_path, SCALESIM_CONV))
    c1, c2 = trace.gemms
    assert (c1.M, c1.K, c1.N) == (55 * 55, 11 * 11 * 3, 96)
    assert (c2.M, c2.K, c2.N) == (23 * 23, 5 * 5 * 96, 256)
    assert {op.phase for op in trace.gemms} == {Phase.FF}
    assert trace.header.source == "scalesim-conv"


def test_partial_window_is_recorded_as_padding(tmp_path):
    """The overhang of SCALE-Sim's last window shows in the conv record as the smallest
    symmetric padding with the same output size; a stride that tiles the IFMAP gets none."""
    c1, c2 = read_csv_workload(_file(tmp_path, SCALESIM_CONV)).gemms
    assert c1.conv.padding == (2, 2) and c1.conv.out_height == 55
    assert c2.conv.padding == (0, 0)


def test_scalesim_conv_with_sparsity_and_depthwise(tmp_path):
    """A Sparsity column gives the weight's N:M (1:1 is dense); a name containing DP is
    depthwise: one group per channel, each a K = FH*FW GEMM."""
    text = CONV_HEADER + " Sparsity,\nConv, 8, 8, 3, 3, 16, 32, 1, 2:4,\n"
    text += "DP1, 8, 8, 3, 3, 16, 1, 1, 1:1,\n"
    conv, dw = read_csv_workload(_file(tmp_path, text)).gemms
    assert conv.sparsity == NMPattern(2, 4)
    assert (dw.M, dw.K, dw.N, dw.batch, dw.sparsity) == (36, 9, 1, 16, None)


def test_batch_column_is_not_read_as_a_stride(tmp_path):
    """A 'Batch Size' column after 'Strides' multiplies the output pixels (M); it used to be
    taken for the stride width (16x too few cycles at batch 4)."""
    text = CONV_HEADER + " Batch Size,\nConv, 16, 16, 3, 3, 8, 32, 1, 4,\n"
    (op,) = read_csv_workload(_file(tmp_path, text)).gemms
    assert (op.M, op.K, op.N) == (4 * 14 * 14, 72, 32)
    assert op.conv.stride == (1, 1) and op.conv.batch == 4


def test_columns_are_found_by_name_in_any_order(tmp_path):
    """Columns are matched by header name, whatever their order and capitalisation."""
    text = ("strides,channels,layer name,num filters,filter width,filter height,"
            "ifmap width,ifmap height,\n2,3,c,8,3,5,9,11,\n")
    (op,) = read_csv_workload(_file(tmp_path, text)).gemms
    # ceil((11 - 5) / 2) + 1 = 4 rows, ceil((9 - 3) / 2) + 1 = 4 columns
    assert (op.M, op.K, op.N) == (16, 5 * 3 * 3, 8)


def test_separate_stride_columns(tmp_path):
    """'Stride Height' and 'Stride Width' (the header SCALE-Sim's topology writer uses)."""
    text = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Stride height, Stride width,\nc, 9, 9, 3, 3, 1, 1, 1, 3,\n")
    (op,) = read_csv_workload(_file(tmp_path, text)).gemms
    assert op.conv.stride == (1, 3) and op.M == 7 * 3


def test_scalesim_gemm_topology(tmp_path):
    """SCALE-Sim GEMM rows are Layer, M, N, K: K is the reduction dimension."""
    text = "Layer,M,N,K,Sparsity,\nL0,196,192,384,1:4,\nL1,196,1176,64,\n"
    trace = read_csv_workload(_file(tmp_path, text))
    l0, l1 = trace.gemms
    assert (l0.M, l0.K, l0.N, l0.sparsity) == (196, 384, 192, NMPattern(1, 4))
    assert (l1.M, l1.K, l1.N, l1.sparsity) == (196, 64, 1176, None)
    assert trace.header.source == "scalesim-gemm"


def test_plain_gemm_csv(tmp_path):
    """The plain form is name,M,K,N[,sparsity]; 'dense' and an absent cell are dense."""
    text = "name,M,K,N,sparsity\nq,128,768,768,2:4\nk,128,768,768,dense\nv,128,768,768\n"
    trace = read_csv_workload(_file(tmp_path, text))
    assert [op.sparsity for op in trace.gemms] == [NMPattern(2, 4), None, None]
    assert [(op.M, op.K, op.N) for op in trace.gemms] == [(128, 768, 768)] * 3
    assert trace.name == "w" and trace.header.source == "gemm-csv"


def test_excel_bom_crlf_nbsp_and_tabs(tmp_path):
    """Excel's UTF-8 BOM, CRLF line ends, no-break spaces in names and tab-separated files."""
    text = "\ufeffLayer name,\xa0IFMAP Height,\xa0IFMAP Width,\xa0Filter Height,\xa0Filter " \
           "Width,\xa0Channels,\xa0Num Filter,\xa0Strides,\r\nc,5,5,3,3,2,4,1,\r\n"
    (op,) = read_csv_workload(_file(tmp_path, text)).gemms
    assert (op.M, op.K, op.N) == (9, 18, 4)
    tabs = CONV_HEADER.replace(",", "\t") + "\nc\t5\t5\t3\t3\t2\t4\t1\t\n"
    (op,) = read_csv_workload(_file(tmp_path, tabs, "t.csv")).gemms
    assert (op.M, op.K, op.N) == (9, 18, 4)


def test_comment_column_is_ignored_and_recorded(tmp_path):
    """A column without a header name may hold '#' comments: ignored, but listed in the header
    meta so the caller can say so."""
    text = CONV_HEADER + "\nc, 5, 5, 3, 3, 2, 4, 1,#dw\nd, 5, 5, 3, 3, 2, 4, 1,\n"
    trace = read_csv_workload(_file(tmp_path, text))
    assert len(trace.gemms) == 2
    assert trace.header.meta["ignored_columns"] == ["column 9 (no header name; comments #dw)"]


def test_a_dw_note_under_the_sparsity_column_is_a_comment(tmp_path):
    """SCALE-Sim's MobileNet files end depthwise rows with a '#dw' note, which SCALE-Sim
    drops (it drops every row's last cell). Under a 'Sparsity' column it is read as blank, as
    SCALE-Sim reads it (dense), and listed in the header meta; the other rows keep theirs."""
    text = (CONV_HEADER + " Sparsity,\nc, 5, 5, 3, 3, 2, 4, 1, 2:4,\n"
            "c_dw, 5, 5, 3, 3, 1, 1, 1,#dw\n")
    trace = read_csv_workload(_file(tmp_path, text))
    assert [op.sparsity for op in trace.gemms] == [NMPattern(2, 4), None]
    assert trace.header.meta["ignored_columns"] == [
        "column 9 ('Sparsity', read as blank; comments #dw)"]


def test_output_size_annotations_are_checked(tmp_path):
    """SCALE-Sim's 'Eh, Ew, e2' annotation columns must agree with the sizes computed."""
    header = CONV_HEADER + ",,Eh,Ew,e2\n"
    good = header + "Conv1,224,224,7,7,3,64,2,,,110,110,12100\nC2,8,8,3,3,1,1,1,,,,,\n"
    assert read_csv_workload(_file(tmp_path, good)).gemms[0].M == 110 * 110
    bad = header + "Conv1,224,224,7,7,3,64,2,,,109,109,11881\n"
    with pytest.raises(SatsimError, match=r"line 2: Eh: 109 disagrees .* 110"):
        read_csv_workload(_file(tmp_path, bad, "bad.csv"))


def test_deepbench_duplicate_width_header_reads_height(tmp_path):
    """SCALE-Sim's DeepBench files name column 2 'IFMAP Width' too; SCALE-Sim reads it as the
    height (by position), and so does the importer -- saying so in the header meta."""
    text = CONV_HEADER.replace("Layer name, IFMAP Height", "Layer, IFMAP Width")
    trace = read_csv_workload(_file(tmp_path, text + "\nd,700,161,20,5,1,32,2,\n"))
    assert trace.gemms[0].conv.height == 700
    assert "read as 'IFMAP Height'" in trace.header.meta["renamed_columns"][0]


def test_sparsity_scalesim_drops_is_recorded(tmp_path):
    """SCALE-Sim drops the last cell of a row without a trailing comma: when that is the
    sparsity it runs the layer dense. The importer reads it, and lists those lines."""
    text = "Layer, M, N, K, Sparsity,\nA, 4, 4, 16, 2:4,\nB, 4, 4, 16, 2:4\n"
    trace = read_csv_workload(_file(tmp_path, text))
    assert [op.sparsity for op in trace.gemms] == [NMPattern(2, 4)] * 2
    assert trace.header.meta["scalesim_drops_sparsity"] == [3]


@pytest.mark.parametrize(("text", "message"), [
    ("name,M,K,N\nq,128,768\n", r"line 2: missing column 'N'"),
    ("name,M,K,N\nq,128,x,4\n", r"line 2: K: expected a whole number"),
    ("name,M,K,N\nq,+5,3,4\n", r"line 2: M: expected a whole number, got '\+5'"),
    ("name,M,K,N\nq,1_000,3,4\n", r"line 2: M: expected a whole number"),
    ("name,M,K,N\nq,0,3,4\n", r"line 2: M: must be positive"),
    ("name,M,K,N\nq,1,,4\n", r"line 2: K: missing value"),
    ("name,M,K,N,sparsity\nq,1,3,4,3:2\n", r"line 2: sparsity: N:M needs N < M"),
    ("a,b,c\n1,2,3\n", r"line 1: unrecognised CSV header"),
    ("name,M,K\n", r"line 1: missing column 'N' in the header"),
    ("name,M,K,N,bias\nq,1,2,3,4\n", r"line 1: unknown column 'bias' \(column 5\)"),
    ("name,M,K,N,K\nq,1,2,3,4\n", r"line 1: column 'K' appears twice \(columns 3 and 5\)"),
    ("name,M,K,N,Batch Size\nq,1,2,3,4\n", r"line 1: column 'Batch Size' .* GEMM"),
    ("name,M,K,N,Channels\nq,1,2,3,4\n", r"line 1: mixes conv and GEMM columns"),
    ("name,M,K,N,\nq,1,2,3,4\n", r"line 2: column 5 has no header name, but holds '4'"),
    ("name,M,K,N\nq,1,2,3,,7\n", r"line 2: column 6 has no header name, but holds '7'"),
    ("name,M,K,N\n,1,2,3\n", r"line 2: missing layer name"),
    ("name,M,K,N\n", r"no layers after the header"),
    (CONV_HEADER + "\nc,5,5,6,3,1,1,1,\n", r"line 2: Filter Height 6 is larger than IFMAP "
     r"Height 5"),
    (CONV_HEADER + "\nAlexnet,\n", r"line 2: IFMAP Height: missing value"),
    (CONV_HEADER + " Strides,\nc,5,5,3,3,1,1,1,1,\n", r"line 1: column 'Strides' appears twice"),
    (CONV_HEADER + "\nc,5,5,3,3,1,1,#dw,\n", r"line 2: Strides: expected a whole number, got "
     r"'#dw'"),
])
def test_bad_csv_names_line_and_column(tmp_path, text, message):
    """Every rejection names the file, the line and the column (or the header's problem)."""
    with pytest.raises(SatsimError, match=message) as info:
        read_csv_workload(_file(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / "w.csv"))


def test_not_utf8_is_rejected(tmp_path):
    """A file that is not UTF-8 text is rejected, naming it."""
    with pytest.raises(SatsimError, match=r"w.csv: not UTF-8 text"):
        read_csv_workload(_file(tmp_path, "name,M,K,N\nµ,1,2,3\n", encoding="latin-1"))


# Every topology file SCALE-Sim 3.0.0 ships (tests/data/scalesim/topologies) is read, except
# these, rejected with the error that names the problem (SCALE-Sim fails on all of them too).
REJECTED = {
    "CSV/LSTM.csv": r"line 2: IFMAP Width: expected a whole number, got 'B'",
    "rnn_eval/LSTM_template.csv": r"line 2: IFMAP Width: expected a whole number, got 'B'",
    "CSV/MLPERF.csv": r"line 3: IFMAP Height: missing value",  # row 'AlphaGoZero,': a title
    "mlperf/MLPERF.csv": r"line 3: IFMAP Height: missing value",
    "mlperf/NCF_recommendation.csv": r"line 3: IFMAP Height: missing value",
    "mlperf/Sentimental_seqLSTM.csv": r"line 3: IFMAP Height: missing value",
    "mlperf/Transformer.csv": r"line 3: IFMAP Height: missing value",
    "mlperf/div4q/Sentimental_seqLSTM_short.csv":
        r"line 6: column 9 has no header name, but holds '1'",  # 9 values, 8 columns
}
SHIPPED_FILES = sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*.csv"))


def test_all_shipped_topologies_are_here():
    """The 131 topology CSVs of SCALE-Sim 3.0.0's topologies/ folder are all in the tests."""
    assert len(SHIPPED_FILES) == 131
    assert set(REJECTED) <= set(SHIPPED_FILES)


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_every_shipped_topology_imports_or_is_rejected_by_name(name):
    """Each shipped topology imports (one FF GEMM per row, or per channel of a DP row), or is
    rejected with the specific error naming its line and column."""
    path = SHIPPED / name
    if name in REJECTED:
        with pytest.raises(SatsimError, match=REJECTED[name]):
            read_csv_workload(path)
        return
    trace = read_csv_workload(path)
    assert trace.gemms and all(op.phase is Phase.FF for op in trace.gemms)
    assert trace.header.source in ("scalesim-conv", "scalesim-gemm")


def test_shipped_llama_batch_column(tmp_path):
    """llama3b.csv's 'Batch Size' column (all 1) is read as the batch, not as a stride."""
    trace = read_csv_workload(SHIPPED / "llama" / "llama3b.csv")
    ffn = next(op for op in trace.gemms if op.layer == "FeedForward_1")
    assert (ffn.M, ffn.K, ffn.N) == (512 * 512, 4096, 16384)
    assert ffn.conv.batch == 1 and ffn.conv.stride == (1, 1)
