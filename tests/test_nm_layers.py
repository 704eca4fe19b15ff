"""N:M training layers (BDWP, SR-STE) in PyTorch and the sparsify() model rewrite."""

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from satsim.capture.nm import NMConv2d, NMLinear, nm_mask, sparsify  # noqa: E402
from satsim.errors import SatsimError  # noqa: E402
from satsim.functional import nm as np_nm  # noqa: E402
from satsim.types import NMPattern  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TIGHT = {"rtol": 1e-12, "atol": 1e-12}
LAM = 0.05  # large enough for the decay term to show in the weight gradient


class _OpLog(TorchDispatchMode):
    """Records (aten op, args) of every op dispatched below autograd."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append((func, args))
        return func(*args, **(kwargs or {}))


def _layer(kind, method, groups=1):
    torch.manual_seed(0)
    if kind == "linear":
        return NMLinear(16, 8, method=method, n=2, m=4, lam=LAM, dtype=torch.float64)
    return NMConv2d(8, 16, 3, stride=2, padding=1, groups=groups, bias=True, method=method,
                    n=2, m=4, lam=LAM, dtype=torch.float64)


def _input(kind):
    shape = (2, 3, 16) if kind == "linear" else (2, 8, 7, 7)  # linear: 3-D, flattened inside
    return torch.randn(shape, dtype=torch.float64, requires_grad=True)


def _dense(kind, layer, x, w):
    if kind == "linear":
        return F.linear(x, w, layer.bias.detach())
    return F.conv2d(x, w, layer.bias.detach(), stride=2, padding=1, groups=layer.groups)


def test_torch_mask_agrees_with_numpy_rule_on_ties():
    """nm_mask equals satsim.functional.nm.nm_mask (ties: lower index) on any dim, with padding."""
    rng = np.random.default_rng(3)
    for n, m in [(1, 4), (2, 4), (2, 8), (3, 8)]:
        w = rng.integers(-2, 3, size=(13, 6, 3)).astype(np.float64)  # many ties and zeros
        for dim in range(3):
            flat = np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)  # [K, N], K = grouped dim
            expect = np.moveaxis(
                np_nm.nm_mask(flat, NMPattern(n, m)).reshape(np.moveaxis(w, dim, 0).shape),
                0, dim)
            got = nm_mask(torch.from_numpy(w), n, m, dim).numpy()
            np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("method", ["bdwp", "srste"])
@pytest.mark.parametrize(("kind", "groups"), [("linear", 1), ("conv", 1), ("conv", 2)])
def test_layer_matches_masked_dense_autograd(kind, groups, method):
    """Output, input grad and weight grad equal autograd of the equivalent masked dense GEMM."""
    layer = _layer(kind, method, groups)
    x = _input(kind)
    y = layer(x)
    g = torch.randn_like(y)
    y.backward(g)

    w = layer.weight.detach()
    m_ff = nm_mask(w, 2, 4, dim=1)
    m_bp = nm_mask(w, 2, 4, dim=0) if method == "bdwp" else m_ff
    if method == "bdwp":
        assert (m_bp != m_ff).any()  # otherwise the BP check would not tell the masks apart
    torch.testing.assert_close(y, _dense(kind, layer, x.detach(), w * m_ff), **TIGHT)

    x_ref = x.detach().requires_grad_()
    _dense(kind, layer, x_ref, w * m_bp).backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, **TIGHT)

    w_ref = w.clone().requires_grad_()
    b_ref = layer.bias.detach().clone().requires_grad_()
    if kind == "linear":
        F.linear(x.detach(), w_ref, b_ref).backward(g)
    else:
        F.conv2d(x.detach(), w_ref, b_ref, stride=2, padding=1, groups=groups).backward(g)
    decay = LAM * w.masked_fill(m_ff, 0)  # lam * (1 - M_ff) * W, kept in fp64
    torch.testing.assert_close(layer.weight.grad, w_ref.grad + decay, **TIGHT)
    torch.testing.assert_close(layer.bias.grad, b_ref.grad, **TIGHT)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_masks_keep_top_n_per_group_along_their_dim(kind):
    """M_ff keeps n of m along dim 1, M_bp along dim 0, each the largest magnitudes."""
    layer = _layer(kind, "bdwp")
    w = layer.weight.detach().abs()
    m_ff, m_bp = layer.masks()
    for mask, dim in [(m_ff, 1), (m_bp, 0)]:
        shape = list(w.shape)
        shape[dim : dim + 1] = [shape[dim] // 4, 4]
        grouped_mask, grouped_w = mask.reshape(shape), w.reshape(shape)
        assert (grouped_mask.sum(dim + 1) == 2).all()
        kept_min = grouped_w.masked_fill(~grouped_mask, float("inf")).amin(dim + 1)
        pruned_max = grouped_w.masked_fill(grouped_mask, -1.0).amax(dim + 1)
        assert (kept_min >= pruned_max).all()


def test_srste_bp_mask_is_the_forward_mask():
    """For SR-STE the data gradient uses W*M_ff, so masks() reports M_bp == M_ff."""
    m_ff, m_bp = _layer("conv", "srste").masks()
    assert torch.equal(m_ff, m_bp)


def test_bf16_autocast_forward_and_backward():
    """Under CPU bf16 autocast the layers output bf16 and give fp32 gradients."""
    torch.manual_seed(0)
    model = nn.Sequential(NMConv2d(8, 8, 3, padding=1, n=2, m=4), nn.ReLU(), nn.Flatten(),
                          NMLinear(8 * 5 * 5, 8, n=2, m=4, method="srste"))
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
        assert y.dtype == torch.bfloat16
    y.float().square().sum().backward()
    assert x.grad.dtype == torch.float32
    for p in model.parameters():
        assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_no_bp_gemm_when_input_needs_no_grad(kind):
    """A layer whose input needs no gradient runs only the WG GEMM in backward, no BP GEMM."""
    layer = _layer(kind, "bdwp")
    y = layer(_input(kind).detach())
    with _OpLog() as log:
        y.sum().backward()
    if kind == "conv":
        masks = [args[-1] for func, args in log.calls
                 if func is torch.ops.aten.convolution_backward.default]
        assert masks == [[False, True, True]]
    else:
        gemms = [func for func, _ in log.calls if func in (torch.ops.aten.mm.default,
                                                          torch.ops.aten.addmm.default)]
        assert gemms == [torch.ops.aten.mm.default]
    assert layer.weight.grad is not None


def test_masks_are_recomputed_every_forward():
    """Changing the dense weight changes the masks, and the next forward uses the new ones."""
    layer = _layer("conv", "bdwp")
    x = _input("conv").detach()
    before = layer.masks()
    with torch.no_grad():
        layer.weight.neg_().add_(torch.randn_like(layer.weight))
    after = layer.masks()
    assert not torch.equal(before[0], after[0]) and not torch.equal(before[1], after[1])
    expect = _dense("conv", layer, x, layer.weight.detach() * after[0])
    torch.testing.assert_close(layer(x).detach(), expect, **TIGHT)


def _small_model():
    return nn.Sequential(OrderedDict(
        stem=nn.Conv2d(3, 16, 3, padding=1),
        conv1=nn.Conv2d(16, 16, 3, padding=1),
        conv2=nn.Conv2d(16, 12, 1),  # BP reduction 12: dense under bdwp only
        conv3=nn.Conv2d(12, 16, 1),  # FF reduction 12
        dw=nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise: C_in/groups = 1
        pool=nn.AdaptiveAvgPool2d(1),
        flat=nn.Flatten(),
        fc1=nn.Linear(16, 16),
        fc=nn.Linear(16, 8),
    ))


def test_sparsify_skip_rules_and_statuses():
    """Stem, non-divisible and skipped layers stay dense; the rest become N:M and share params."""
    model = _small_model()
    weight = model.conv1.weight
    table = sparsify(model, "bdwp", 2, 8, skip=["fc1"])
    assert {name: info.status for name, info in table.items()} == {
        "stem": "dense: stem conv",
        "conv1": "sparse 2:8 bdwp",
        "conv2": "dense: out_channels 12 not divisible by 8",
        "conv3": "dense: in_channels 12 not divisible by 8",
        "dw": "dense: in_channels/groups 1 not divisible by 8 (groups 16)",
        "fc1": "dense: skipped",
        "fc": "sparse 2:8 bdwp",
    }
    assert type(model.stem) is nn.Conv2d and type(model.fc1) is nn.Linear
    assert isinstance(model.conv1, NMConv2d) and isinstance(model.fc, NMLinear)
    assert model.conv1.weight is weight and (model.fc.n, model.fc.m) == (2, 8)
    assert sparsify(_small_model(), "srste", 2, 8)["conv2"].status == "sparse 2:8 srste"
    model(torch.randn(2, 3, 4, 4)).sum().backward()  # the rewritten model still trains


def test_sparsify_dense_method_replaces_nothing():
    """Method 'dense' leaves every layer in place and reports each as dense, but still records
    which N:M could prune it (so a dense capture can be re-annotated)."""
    model = _small_model()
    table = sparsify(model, "dense", 2, 8, skip=["fc1"])
    assert {info.status for info in table.values()} == {"dense: method dense"}
    assert len(table) == 7
    assert not any(isinstance(mod, NMConv2d | NMLinear) for mod in model.modules())
    assert table["conv1"].dense_reason("bdwp", 8) is None
    assert table["conv2"].dense_reason("srste", 8) is None  # only BDWP needs C_out groups
    assert table["conv2"].dense_reason("bdwp", 8) == "out_channels 12 not divisible by 8"
    assert (table["stem"].excluded, table["fc1"].excluded) == ("stem conv", "skipped")


@pytest.mark.parametrize(("method", "n", "m", "skip"), [
    ("magnitude", 2, 4, ()), ("bdwp", 4, 4, ()), ("bdwp", 0, 4, ()), ("bdwp", 2, 8, ["nope"]),
])
def test_sparsify_rejects_bad_arguments(method, n, m, skip):
    """Unknown method, N:M outside 1 <= N < M and unknown skip names raise SatsimError."""
    with pytest.raises(SatsimError):
        sparsify(_small_model(), method, n, m, skip=skip)
