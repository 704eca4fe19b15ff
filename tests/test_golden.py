"""Golden cycle counts derived by hand from docs/microarchitecture.md."""

import numpy as np

from satsim.config import load_dataflow, load_hardware
from satsim.mapping import map_gemm
from satsim.timing.reference import run_reference
from satsim.trace.schema import GemmOp
from satsim.types import NMPattern, Phase, Stationarity


def test_os_2x2_single_fold():
    """OS, 2x2 array, A and B 2x2, dense, one fold: 5 cycles.

    Step k of the stream meets PE (r, c) in cycle k + r + c. The last MAC is step 1 at PE
    (1, 1), cycle 3; its sum sits in the output register in cycle 4, when the column's port
    reads it. Cycles 0..4: T + R + C - 1 = 2 + 2 + 2 - 1 = 5.
    """
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[5.0, 6.0], [7.0, 8.0]])
    ref = run_reference(a, b, rows=2, cols=2, stationarity=Stationarity.OS, interleave=False)
    assert ref.cycles == 5
    np.testing.assert_array_equal(ref.output, a @ b)


def test_ws_2x2_single_fold():
    """WS, 2x2 array, M = 3, K = N = 2, dense: 6 cycles.

    The loader writes weight row 0 in cycle 0 and row 1 in cycle 1; the fold starts in cycle
    1, when row 0 holds its tile. A row i reaches PE (r, c) in cycle 1 + i + r + c, so the
    last partial sum leaves PE (1, 1) in cycle 1 + 2 + 1 + 1 = 5: cycles 0..5, i.e.
    T + R + C - 1 = 3 + 2 + 2 - 1 = 6.
    """
    a = np.arange(6.0).reshape(3, 2)
    b = np.array([[1.0, -1.0], [2.0, 3.0]])
    ref = run_reference(a, b, rows=2, cols=2, stationarity=Stationarity.WS, interleave=False)
    assert ref.cycles == 6
    assert ref.fold_starts == (1,)


def test_os_interleaved_period_is_port_bound():
    """OS, 4x1 array, M = 8, K = 2, N = 1, interleaved: 2 folds, 10 cycles.

    T = 2 < R = 4, so a column's port (one read per cycle, R results per fold) spaces folds
    P = max(T, R) = 4 apart: (F - 1) * P + T + R + C - 1 = 4 + 2 + 4 + 1 - 1 = 10.
    """
    a, b = np.ones((8, 2)), np.ones((2, 1))
    ref = run_reference(a, b, rows=4, cols=1, stationarity=Stationarity.OS, interleave=True)
    assert ref.fold_starts == (0, 4)
    assert ref.cycles == 10


def test_sat_resnet18_layer1_conv_ff_bdwp_2_8():
    """SAT preset (32x32, interleaved, auto), ResNet-18 layer1 conv FF at batch 32, 2:8.

    M = 32*32*32 = 32768, K = 64*9 = 576 -> K' = 576/8*2 = 144, N = 64.
    OS: F = (32768/32) * (64/32) = 2048 folds of T = 144, P = max(144, 32) = 144:
        2047 * 144 + 144 + 32 + 32 - 1 = 294,975 cycles.
    WS: F = ceil(144/32) * 2 = 10 folds of T = 32768: 9 * 32768 + 32768 + 63 = 327,743.
    Auto picks OS. Executed MACs = 32768 * 144 * 64 = 301,989,888.
    """
    op = GemmOp(phase=Phase.FF, layer="layer1.0.conv1", M=32768, K=576, N=64, weight="B",
                sparsity=NMPattern(2, 8))
    mapping = map_gemm(op, load_hardware("sat"), load_dataflow("sat"))
    assert mapping.stationarity is Stationarity.OS
    assert mapping.cycles == 294_975
    assert mapping.macs == 301_989_888


def test_naive_dataflow_fixes_ws_without_interleaving():
    """naive: WS, no interleave. Same op: 10 folds of 32768 + 32 + 32 - 1 = 32,831 cycles."""
    op = GemmOp(phase=Phase.FF, layer="x", M=32768, K=576, N=64, weight="B",
                sparsity=NMPattern(2, 8))
    mapping = map_gemm(op, load_hardware("sat"), load_dataflow("naive"))
    assert mapping.stationarity is Stationarity.WS
    assert mapping.cycles == 10 * 32_831
