"""CSV workloads: SCALE-Sim conv and GEMM topologies, plain name,M,K,N."""

import pytest

from satsim.errors import SatsimError
from satsim.trace import read_csv_workload
from satsim.types import NMPattern, Phase

SCALESIM_CONV = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1     ,224         ,224        ,11           ,11          ,3       ,96        ,4      ,
Conv2     ,27         ,27        ,5            ,5           ,96      ,256       ,1      ,
"""


def _file(tmp_path, text, name="w.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_scalesim_conv_topology(tmp_path):
    """SCALE-Sim convs are valid (unpadded): AlexNet Conv1 224 -> (224-11)//4+1 = 54."""
    trace = read_csv_workload(_file(tmp_path, SCALESIM_CONV))
    c1, c2 = trace.gemms
    assert (c1.M, c1.K, c1.N) == (54 * 54, 11 * 11 * 3, 96)
    assert (c2.M, c2.K, c2.N) == (23 * 23, 5 * 5 * 96, 256)
    assert {op.phase for op in trace.gemms} == {Phase.FF}
    assert trace.header.source == "scalesim-conv"


def test_scalesim_conv_with_sparsity_and_depthwise(tmp_path):
    text = SCALESIM_CONV.splitlines()[0] + " Sparsity,\nConv, 8, 8, 3, 3, 16, 32, 1, 2:4,\n"
    text += "DP1, 8, 8, 3, 3, 16, 1, 1, 1:1,\n"
    conv, dw = read_csv_workload(_file(tmp_path, text)).gemms
    assert conv.sparsity == NMPattern(2, 4)
    assert (dw.M, dw.K, dw.N, dw.batch, dw.sparsity) == (36, 9, 1, 16, None)


def test_scalesim_gemm_topology(tmp_path):
    """SCALE-Sim GEMM rows are Layer, M, N, K: K is the reduction dimension."""
    text = "Layer,M,N,K,Sparsity,\nL0,196,192,384,1:4,\nL1,196,1176,64,\n"
    l0, l1 = read_csv_workload(_file(tmp_path, text)).gemms
    assert (l0.M, l0.K, l0.N, l0.sparsity) == (196, 384, 192, NMPattern(1, 4))
    assert (l1.M, l1.K, l1.N, l1.sparsity) == (196, 64, 1176, None)


def test_plain_gemm_csv(tmp_path):
    text = "name,M,K,N,sparsity\nq,128,768,768,2:4\nk,128,768,768,dense\nv,128,768,768\n"
    trace = read_csv_workload(_file(tmp_path, text))
    assert [op.sparsity for op in trace.gemms] == [NMPattern(2, 4), None, None]
    assert trace.name == "w"


@pytest.mark.parametrize(("text", "message"), [
    ("name,M,K,N\nq,128,768\n", r"line 2: missing column 'N'"),
    ("name,M,K,N\nq,128,x,4\n", r"line 2: K: expected a whole number"),
    ("name,M,K,N\nq,0,3,4\n", r"line 2: M: must be positive"),
    ("name,M,K,N,sparsity\nq,1,3,4,3:2\n", r"line 2: sparsity: N:M needs N < M"),
    ("a,b,c\n1,2,3\n", r"line 1: unrecognised CSV header"),
    ("name,M,K,N\n", r"no layers after the header"),
])
def test_bad_csv_names_line_and_column(tmp_path, text, message):
    with pytest.raises(SatsimError, match=message):
        read_csv_workload(_file(tmp_path, text))
