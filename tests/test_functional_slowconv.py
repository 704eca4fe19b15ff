"""The emulation of torch's CPU slow_conv2d backward: 16-bit gradients as torch sums them."""

import numpy as np
import pytest

from satsim.functional import im2col, slowconv
from satsim.functional.formats import round_to
from satsim.functional.validate import EXPLAINED
from satsim.trace.schema import ConvParams
from satsim.types import Phase

CONVS = [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((1, 1), (2, 2), (0, 0))]


def _torch_slow_conv2d(fmt, kernel, stride, padding):
    """A random conv's operands and torch's ``_slow_conv2d_backward`` of them (called
    directly, so whatever kernel the CPU would pick): (conv, BP's A, B, torch's dX, WG's A, B,
    torch's dW), the results in the GEMMs' layouts."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[fmt]
    conv = ConvParams(batch=3, in_channels=16, out_channels=24, height=8, width=8,
                      kernel=kernel, stride=stride, padding=padding)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 8, 8, generator=gen).to(dtype)
    w = torch.randn(24, 16, *kernel, generator=gen).to(dtype)
    dy = torch.randn(3, 24, conv.out_height, conv.out_width, generator=gen).to(dtype)
    dx, dw, _ = torch.ops.aten._slow_conv2d_backward.output_mask(
        dy, x, w, list(kernel), list(stride), list(padding), [True, True, False])
    x32, w32, dy32 = (t.float().numpy() for t in (x, w, dy))
    a_bp, b_bp = im2col.bp_operands(dy32, w32, conv)
    a_wg, b_wg = im2col.wg_operands(dy32, x32, conv)
    return (conv, a_bp, b_bp, dx.float().numpy().transpose(0, 2, 3, 1).reshape(-1, 16),
            a_wg, b_wg, dw.float().numpy().transpose(0, 2, 3, 1).reshape(24, -1))


@pytest.mark.torch
@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
@pytest.mark.parametrize("kernel, stride, padding", CONVS)
def test_emulation_reproduces_torch_slow_conv2d_backward(fmt, kernel, stride, padding):
    """The emulation gives torch's dX bit for bit, and its dW up to the rare 16-bit rounding
    that the order of the fp32 dot products decides."""
    conv, a, b, dx, a_wg, b_wg, dw = _torch_slow_conv2d(fmt, kernel, stride, padding)
    ours = slowconv.grad(Phase.BP, a, b, conv, fmt)
    assert (ours.view(np.uint32) == dx.view(np.uint32)).all()

    ours = slowconv.grad(Phase.WG, a_wg, b_wg, conv, fmt)
    assert np.mean(ours.view(np.uint32) == dw.view(np.uint32)) >= EXPLAINED
    once = round_to(a_wg @ b_wg, fmt)  # fp32 sums rounded once: what torch does not do here
    assert np.mean(once == dw) < np.mean(ours == dw)


@pytest.mark.torch
@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
@pytest.mark.parametrize("kernel, stride, padding", CONVS)
def test_enclosure_holds_torch_slow_conv2d_backward(fmt, kernel, stride, padding):
    """Every element of torch's dX and dW lies within the enclosure."""
    conv, a, b, dx, a_wg, b_wg, dw = _torch_slow_conv2d(fmt, kernel, stride, padding)
    for phase, lhs, rhs, theirs in ((Phase.BP, a, b, dx), (Phase.WG, a_wg, b_wg, dw)):
        low, high = slowconv.enclosure(phase, lhs, rhs, conv, fmt)
        assert ((low <= theirs) & (theirs <= high)).all()


@pytest.mark.parametrize("fmt, phase", [("fp16", Phase.BP), ("fp16", Phase.WG),
                                        ("bf16", Phase.WG)])
def test_enclosure_holds_every_summation_order(fmt, phase):
    """The kernel's arithmetic with its fp32 dot products summed one product after another in
    random orders — operands spread over 12 binades, so that some orders change a 16-bit
    rounding — stays within the enclosure at every element."""
    conv = ConvParams(batch=3, in_channels=8, out_channels=128, height=8, width=8,
                      kernel=(3, 3), padding=(1, 1))
    rng = np.random.default_rng(0)

    def spread(*shape):
        return round_to(rng.standard_normal(shape) * 2.0 ** rng.integers(-6, 6, shape), fmt)

    dy, x, w = spread(3, 128, 8, 8), spread(3, 8, 8, 8), spread(128, 8, 3, 3)
    a, b = im2col.bp_operands(dy, w, conv) if phase is Phase.BP else im2col.wg_operands(dy, x, conv)
    low, high = slowconv.enclosure(phase, a, b, conv, fmt)
    numpy_order = slowconv.grad(phase, a, b, conv, fmt)
    changed = 0
    for _ in range(4):
        dots = []
        for block in slowconv._blocks(phase, conv, a):
            dot = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
            for k in rng.permutation(np.arange(block.start, block.stop)):
                dot = dot + a[:, k:k + 1] * b[k:k + 1]  # exact products, fp32 sums
            dots.append(dot)
        ours = slowconv._accumulate(phase, fmt, dots)
        assert ((low <= ours) & (ours <= high)).all()
        changed += int(np.sum(ours != numpy_order))
    assert changed  # the premise: some orders gave another result


@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
def test_enclosure_holds_both_orders_of_a_cancelling_sum(fmt):
    """dX of a 1x1 conv whose one dot product has the products 2²⁴, 1 and −2²⁴: summed in
    that order fp32 gives 0, with the two large ones first 1. Both lie in the enclosure."""
    conv = ConvParams(batch=1, in_channels=1, out_channels=3, height=1, width=1,
                      kernel=(1, 1))
    dy = np.array([4096.0, 1.0, -4096.0], dtype=np.float32).reshape(1, 3, 1, 1)
    w = np.array([4096.0, 1.0, 4096.0], dtype=np.float32).reshape(3, 1, 1, 1)
    a, b = im2col.bp_operands(dy, w, conv)
    p = (a[0] * b[:, 0]).astype(np.float32)
    in_order = (p[0] + p[1]) + p[2]
    large_first = (p[0] + p[2]) + p[1]
    assert (in_order, large_first) == (0.0, 1.0)
    low, high = slowconv.enclosure(Phase.BP, a, b, conv, fmt)
    assert low[0, 0] <= 0.0 and high[0, 0] >= 1.0
