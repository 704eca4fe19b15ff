"""What torch's CPU reference convolution computes for 16-bit gradients, as GEMM operands.

Where oneDNN has no 16-bit convolution for the CPU (fp16 without AVX512-FP16 or AMX-FP16;
bf16 without AVX-512 as well), torch runs the convolution through ``_slow_conv2d_forward`` and
``_slow_conv2d_backward`` (``aten/src/ATen/native/ConvolutionMM2d.cpp``): per sample, an
im2col GEMM whose dot products are summed in fp32 (``cpublas::gemm``) and *stored in the
16-bit format*. So the backward sums two things in the 16-bit format:

* **dX** (BP): each sample's GEMM gives one column buffer per kernel tap, rounded; col2im
  (``unfolded2d_acc``) adds the kh·kw taps into dX in the 16-bit format, tap by tap (kernel
  rows, then columns);
* **dW** (WG): each sample's GEMM is added to dW (``beta = 1``: ``dW + dot`` in fp32, then
  rounded): the batch is summed in the 16-bit format, sample by sample.

:func:`grad` computes that from the lowered operands of :mod:`satsim.functional.im2col` (BP:
K is tap-major, one block of C_out columns per tap; WG: K is sample-major, one block of
Ho·Wo per sample). Its fp32 dot products are numpy's (another order than cpublas's), so it
reproduces torch's tensors up to the rare 16-bit rounding that order decides; ``satsim
validate`` uses it to say whether a PyTorch tensor that breaks the error bound is explained.
"""

from __future__ import annotations

import numpy as np

from satsim.functional.formats import round_to
from satsim.trace.schema import ConvParams
from satsim.types import Phase


def applies(conv: ConvParams | None, phase: Phase) -> bool:
    """Whether torch's slow_conv2d backward computes this GEMM (plain, undilated convs)."""
    return (conv is not None and phase in (Phase.BP, Phase.WG) and conv.groups == 1
            and conv.dilation == (1, 1))


def roundings(phase: Phase, conv: ConvParams) -> int:
    """The most roundings to the 16-bit format on the path of one element: BP rounds each
    tap's column and each addition of it, WG each addition of a sample."""
    return 2 * conv.kernel[0] * conv.kernel[1] if phase is Phase.BP else conv.batch


def grad(phase: Phase, a: np.ndarray, b: np.ndarray, conv: ConvParams, fmt: str) -> np.ndarray:
    """slow_conv2d's dX (``phase`` BP) or dW (WG) in the 16-bit ``fmt`` from the lowered
    operands A [M, K], B [K, N] (as float32 values of ``fmt``), in the GEMM's layout [M, N]."""
    a32, b32 = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if phase is Phase.BP:
        blocks, round_block = conv.kernel[0] * conv.kernel[1], True
    else:
        blocks, round_block = conv.batch, False
    width = a32.shape[1] // blocks
    acc = np.zeros((a32.shape[0], b32.shape[1]), dtype=np.float32)
    for k in range(0, a32.shape[1], width):
        part = a32[:, k:k + width] @ b32[k:k + width]
        if round_block:  # the column buffer holds 16-bit values
            part = round_to(part, fmt)
        acc = round_to(acc + part, fmt)
    return acc
