"""Strided-conv BP lowering: zero-inserted as recorded, or decomposed by stride phase."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.config import load_dataflow, load_hardware
from satsim.mapping import Lowering, map_gemm
from satsim.mapping.lowering import decompose_bp, phase_taps
from satsim.resources import shipped
from satsim.simulate import simulate
from satsim.trace import load_workload
from satsim.trace.schema import ConvParams
from satsim.types import Phase


def _strided_bp_ops():
    for name in shipped("workloads", (".jsonl",)):
        for op in load_workload(name).gemms:
            if op.phase is Phase.BP and op.conv is not None and op.conv.stride != (1, 1):
                yield name, op


STRIDED = list(_strided_bp_ops())


def _hw(strided_bp: str):
    return load_hardware("sat", [("conv.strided_bp", strided_bp)])


def test_shipped_traces_have_strided_bp_layers():
    """The shipped ResNet captures exercise the strided lowering (else the next test is empty)."""
    assert len(STRIDED) >= 2 * 3 * 3  # 2 ResNets x 3 methods x at least 3 strided layers


@pytest.mark.parametrize(("workload", "op"), STRIDED,
                         ids=[f"{w}:{op.layer}" for w, op in STRIDED])
def test_decompose_runs_exactly_the_forward_macs(workload, op):
    """Every strided layer of every shipped trace: the stride-phase sub-GEMMs of BP execute
    exactly the forward conv's dense MACs; zero insertion executes s^2 times as many."""
    forward = op.conv.gemm_dims(Phase.FF)
    ff_macs = forward[0] * forward[1] * forward[2] * forward[3]
    policy = load_dataflow("sat")
    decomposed = map_gemm(op.model_copy(update={"sparsity": None}), _hw("decompose"), policy)
    inserted = map_gemm(op.model_copy(update={"sparsity": None}), _hw("zero_insert"), policy)
    assert decomposed.lowering is Lowering.DECOMPOSE
    assert decomposed.dense_macs == decomposed.macs == ff_macs
    assert inserted.lowering is Lowering.ZERO_INSERT
    assert inserted.macs == op.macs == ff_macs * op.conv.stride[0] * op.conv.stride[1]


def _bp_direct(dy, w, conv: ConvParams):
    """dX of a (groups = 1) conv by its definition: scatter every forward product back."""
    dx = np.zeros((conv.batch, conv.in_channels, conv.height, conv.width))
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    for oh, ow, i, j in itertools.product(range(conv.out_height), range(conv.out_width),
                                          range(conv.kernel[0]), range(conv.kernel[1])):
        h, x = oh * sh + i * dh - ph, ow * sw + j * dw - pw
        if 0 <= h < conv.height and 0 <= x < conv.width:
            dx[:, :, h, x] += dy[:, :, oh, ow] @ w[:, :, i, j]
    return dx


def _bp_decomposed(dy, w, conv: ConvParams):
    """dX assembled from one stride-1 GEMM per stride phase, operands gathered explicitly.

    Returns dX and the executed MACs (rows x K x N of every sub-GEMM)."""
    dx = np.zeros((conv.batch, conv.in_channels, conv.height, conv.width))
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    axes = (phase_taps(conv.height, conv.kernel[0], sh, ph, dh),
            phase_taps(conv.width, conv.kernel[1], sw, pw, dw))
    macs = 0
    for (rh, (_, taps_h)), (rw, (_, taps_w)) in itertools.product(*(a.items() for a in axes)):
        hs, xs = range(rh, conv.height, sh), range(rw, conv.width, sw)
        taps = list(itertools.product(taps_h, taps_w))
        if not (hs and xs):
            continue
        a = np.zeros((conv.batch, len(hs), len(xs), len(taps), conv.out_channels))
        for (qi, h), (qj, x), (t, (i, j)) in itertools.product(
                enumerate(hs), enumerate(xs), enumerate(taps)):
            oh, ow = (h + ph - i * dh) // sh, (x + pw - j * dw) // sw
            if 0 <= oh < conv.out_height and 0 <= ow < conv.out_width:  # else zero padding
                a[:, qi, qj, t] = dy[:, :, oh, ow]
        b = np.stack([w[:, :, i, j] for i, j in taps])  # [taps, C_out, C_in]
        a2, b2 = a.reshape(-1, len(taps) * conv.out_channels), b.reshape(-1, conv.in_channels)
        c = (a2 @ b2).reshape(conv.batch, len(hs), len(xs), conv.in_channels)
        dx[:, :, rh::sh, rw::sw] = c.transpose(0, 3, 1, 2)
        macs += a2.shape[0] * a2.shape[1] * b2.shape[1]
    return dx, macs


@settings(max_examples=40, deadline=None, derandomize=True)
@given(size=st.integers(3, 9), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), seed=st.integers(0, 2**31))
def test_stride_phase_sub_gemms_compute_the_data_gradient(size, kernel, stride, padding,
                                                          dilation, seed):
    """The sub-GEMMs that ``decompose`` times are a real dataflow: gathering the undilated
    output gradient per stride phase and multiplying gives dX exactly, and their MACs are
    the ones the mapping counts."""
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        return
    conv = ConvParams(batch=2, in_channels=3, out_channels=4, height=size, width=size + 1,
                      kernel=(kernel, kernel), stride=(stride, stride),
                      padding=(padding, padding), dilation=(dilation, dilation))
    rng = np.random.default_rng(seed)
    dy = rng.integers(-4, 5, (2, 4, conv.out_height, conv.out_width)).astype(float)
    w = rng.integers(-4, 5, (4, 3, kernel, kernel)).astype(float)
    dx, macs = _bp_decomposed(dy, w, conv)
    np.testing.assert_array_equal(dx, _bp_direct(dy, w, conv))
    assert macs == sum(s.macs for s in decompose_bp(conv))


def test_decompose_is_the_default_and_lowers_bp_cycles():
    """On the SAT preset (decompose) ResNet-18's BP takes fewer cycles than zero insertion,
    FF and WG are unchanged."""
    trace, policy = load_workload("resnet18-cifar"), load_dataflow("sat")
    assert load_hardware("sat").conv.strided_bp == "decompose"
    dec = simulate(trace, _hw("decompose"), policy).by_phase()["busy_cycles"]
    ins = simulate(trace, _hw("zero_insert"), policy).by_phase()["busy_cycles"]
    assert dec["BP"] < ins["BP"]
    assert (dec["FF"], dec["WG"]) == (ins["FF"], ins["WG"])
