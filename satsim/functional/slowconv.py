"""What torch's CPU reference convolution computes for 16-bit gradients, as GEMM operands.

Where oneDNN has no 16-bit convolution for the CPU (fp16 without AVX512-FP16 or AMX-FP16;
bf16 without AVX-512 as well), torch runs the convolution through ``_slow_conv2d_forward`` and
``_slow_conv2d_backward`` (``aten/src/ATen/native/ConvolutionMM2d.cpp``): per sample, an
im2col GEMM whose dot products are summed in fp32 (``cpublas::gemm``,
``aten/src/ATen/native/cpu/BlasKernel.cpp``: ``c = beta·c + alpha·dot`` in fp32, stored in
the 16-bit format). So the backward sums two things in the 16-bit format:

* **dX** (BP): each sample's GEMM gives one column buffer per kernel tap, rounded; col2im
  (``unfolded2d_acc``) adds the kh·kw taps into dX in the 16-bit format, tap by tap (kernel
  rows, then columns);
* **dW** (WG): each sample's GEMM is added to dW (``beta = 1``: ``dW + dot`` in fp32, then
  rounded): the batch is summed in the 16-bit format, sample by sample.

:func:`grad` computes that from the lowered operands of :mod:`satsim.functional.im2col` (BP:
K is tap-major, one block of C_out columns per tap; WG: K is sample-major, one block of
Ho·Wo per sample). Its fp32 dot products are numpy's (another order than cpublas's), so it
reproduces torch's tensors up to the rare 16-bit rounding that order decides. :func:`enclosure`
bounds what the kernel gives in *any* fp32 summation order. ``satsim validate`` uses both to
say whether a PyTorch tensor that breaks the error bound is this kernel's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from satsim.functional.formats import round_to
from satsim.trace.schema import ConvParams
from satsim.types import Phase

U32 = 2.0**-24  # fp32's unit roundoff
TINY32 = 2.0**-149  # fp32's smallest subnormal: a product rounds by at most half of it


def applies(conv: ConvParams | None, phase: Phase) -> bool:
    """Whether torch's slow_conv2d backward computes this GEMM (plain, undilated convs)."""
    return (conv is not None and phase in (Phase.BP, Phase.WG) and conv.groups == 1
            and conv.dilation == (1, 1))


def grad(phase: Phase, a: np.ndarray, b: np.ndarray, conv: ConvParams, fmt: str) -> np.ndarray:
    """slow_conv2d's dX (``phase`` BP) or dW (WG) in the 16-bit ``fmt`` from the lowered
    operands A [M, K], B [K, N] (as float32 values of ``fmt``), in the GEMM's layout [M, N]."""
    a32, b32 = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return _accumulate(phase, fmt, (a32[:, k] @ b32[k] for k in _blocks(phase, conv, a)))


def enclosure(phase: Phase, a: np.ndarray, b: np.ndarray, conv: ConvParams, fmt: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """The least and the greatest value of each element that slow_conv2d can give on these
    operands (as :func:`grad` takes them), whatever the order of its fp32 dot products.

    Each dot product of ``w`` products, summed in fp32 in any order (fused or not), lies within
    ``γ_w·(|A|@|B|) + w·2⁻¹⁵⁰`` of the exact one, ``γ_w = w·u/(1 − w·u)``, ``u = 2⁻²⁴``
    [Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1; the second term
    covers products below fp32's range]. The exact dot product is formed in float64 (its
    products are exact) and the interval doubled, which covers float64's own error. The
    kernel's later steps — rounding to fp32 and to ``fmt``, fp32 addition — are monotone in
    every argument, so running them on the interval's ends gives ends that every summation
    order stays between. Elements where no order changes a rounding get one value.
    """
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    low, high = [], []
    for k in _blocks(phase, conv, a):
        w = k.stop - k.start
        gamma = w * U32 / (1 - w * U32) if w * U32 < 1 else np.inf
        dot = a64[:, k] @ b64[k]
        slack = 2 * (gamma * (np.abs(a64[:, k]) @ np.abs(b64[k])) + w * TINY32)
        low.append(dot - slack)
        high.append(dot + slack)
    return _accumulate(phase, fmt, low), _accumulate(phase, fmt, high)


def _blocks(phase: Phase, conv: ConvParams, a: np.ndarray) -> list[slice]:
    """The K columns of each dot product the kernel rounds: a tap's (BP), a sample's (WG)."""
    count = conv.kernel[0] * conv.kernel[1] if phase is Phase.BP else conv.batch
    width = a.shape[1] // count
    return [slice(k, k + width) for k in range(0, a.shape[1], width)]


def _accumulate(phase: Phase, fmt: str, dots: Iterable[np.ndarray]) -> np.ndarray:
    """The kernel's 16-bit sum of its dot products, one block after another, from zeros."""
    acc = np.float32(0)
    with np.errstate(over="ignore"):  # beyond fp32's range: ±inf, as the kernel gives
        for dot in dots:
            part = np.asarray(dot, dtype=np.float32)
            if phase is Phase.BP:  # the column buffer holds 16-bit values
                part = round_to(part, fmt)
            acc = round_to(acc + part, fmt)
    return acc
