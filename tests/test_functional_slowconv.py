"""The emulation of torch's CPU slow_conv2d backward: 16-bit gradients as torch sums them."""

import numpy as np
import pytest

from satsim.functional import im2col, slowconv
from satsim.functional.formats import round_to
from satsim.functional.validate import EXPLAINED
from satsim.trace.schema import ConvParams
from satsim.types import Phase

pytestmark = pytest.mark.torch

CONVS = [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((1, 1), (2, 2), (0, 0))]


@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
@pytest.mark.parametrize("kernel, stride, padding", CONVS)
def test_emulation_reproduces_torch_slow_conv2d_backward(fmt, kernel, stride, padding):
    """torch's ``_slow_conv2d_backward`` (called directly, so whatever kernel the CPU would
    pick): the emulation gives its dX bit for bit, and its dW up to the rare 16-bit rounding
    that the order of the fp32 dot products decides."""
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

    a, b = im2col.bp_operands(dy32, w32, conv)
    ours = slowconv.grad(Phase.BP, a, b, conv, fmt)
    theirs = dx.float().numpy().transpose(0, 2, 3, 1).reshape(ours.shape)
    assert (ours.view(np.uint32) == theirs.view(np.uint32)).all()

    a, b = im2col.wg_operands(dy32, x32, conv)
    ours = slowconv.grad(Phase.WG, a, b, conv, fmt)
    theirs = dw.float().numpy().transpose(0, 2, 3, 1).reshape(ours.shape)
    assert np.mean(ours.view(np.uint32) == theirs.view(np.uint32)) >= EXPLAINED
    once = round_to(a @ b, fmt)  # fp32 sums rounded once: what torch does not do here
    assert np.mean(once == theirs) < np.mean(ours == theirs)
