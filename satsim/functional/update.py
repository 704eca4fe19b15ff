"""WUVE emulation: the traced optimizer's update of an fp32 master weight, then its copy in the
training precision.

**SGD with momentum** (``torch.optim.SGD(momentum=μ)``, no dampening, no weight decay), in fp32
and in the order torch's CPU kernels compute it:

* the gradient: ``g = fp32(dW) + λ·(W with the FF-kept weights zeroed)`` (SR-STE; λ = 0 for a
  dense layer): a product and a sum, each rounded;
* the momentum: ``v' = μ·v + g`` (``v' = g`` on the first step): a product, then a sum;
* the weight: ``w' = w + (−lr)·v'`` as **one fused multiply-add** (torch's vectorized
  ``add(alpha=...)``; two roundings would differ in about 8 % of the elements);
* the copy: ``w'`` rounded to the operand format (ties to even).

**AdamW** (``torch.optim.AdamW``, single-tensor step, no AMSGrad), in fp32 and in the order of
torch's ``_single_tensor_adam`` on its CPU kernels (each line one rounding unless fused)::

    w₁  = w · fp32(1 − lr·λ)                               (decoupled decay; λ = 0: skipped)
    d   = g − m
    m'  = fma(fp32(1−β₁), d, m)        if 1−β₁ < 0.5, else fma(fp32(1−β₁) − 1, d, g)   (lerp)
    v₁  = v · fp32(β₂)
    v'  = fma(fp32(1−β₂)·g, g, v₁)                          (addcmul: fused)
    den = sqrt(v') / fp32(√(1−β₂ᵗ)) + fp32(ε)
    w'  = w₁ + (fp32(−lr/(1−β₁ᵗ))·m') / den                 (addcdiv: not fused)

with the scalars computed in double from the 1-based step number ``t``, then rounded to fp32
as the kernels do. Every rounding is IEEE round-to-nearest-even except torch's fp32 ``sqrt``:
it calls MKL's vector ``vsSqrt`` in its high-accuracy mode, which is faithfully rounded (off
the correctly rounded root by one ulp in about 17 % of the elements), so :func:`adamw` takes
the square root as an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from satsim.functional.formats import round_to


def fma32(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``x·y + z`` rounded once to fp32 (ties to even), for fp32 inputs.

    The product is exact in fp64; the fp64 sum is exact up to an error ``e`` recovered with
    TwoSum. Rounding that sum to fp32 is correct except when it lands exactly on a midpoint
    of two fp32 values with ``e != 0``: then the true value lies on ``e``'s side.
    """
    p = np.asarray(x, np.float64) * np.asarray(y, np.float64)
    z64 = np.asarray(z, np.float64)
    with np.errstate(all="ignore"):
        s = p + z64
        bb = s - p
        e = (p - (s - bb)) + (z64 - bb)
        r = s.astype(np.float32)
        other = np.nextafter(r, np.where(s > r, np.float32(np.inf), np.float32(-np.inf)))
        midpoint = (s != r) & ((r.astype(np.float64) + other.astype(np.float64)) / 2 == s)
        fix = midpoint & (e != 0) & np.isfinite(s)
        toward = np.where(e > 0, np.maximum(r, other), np.minimum(r, other))
    return np.where(fix, toward, r).astype(np.float32)


def srste_gradient(dw: np.ndarray, weight: np.ndarray, kept: np.ndarray | None,
                   lam: float) -> np.ndarray:
    """``fp32(dW) + λ·W⊙(1 − M_ff)`` in fp32 (``kept`` None or λ = 0: ``fp32(dW)``)."""
    g = np.asarray(dw, np.float32)
    if kept is None:
        return g.copy()
    decay = np.float32(lam) * np.where(kept, np.float32(0), np.asarray(weight, np.float32))
    return (g + decay).astype(np.float32)


def sgd_momentum(weight: np.ndarray, grad: np.ndarray, momentum: np.ndarray | None, lr: float,
                 mu: float) -> tuple[np.ndarray, np.ndarray]:
    """One fp32 SGD-momentum step: ``(w', v')``."""
    g = np.asarray(grad, np.float32)
    v = g.copy() if momentum is None else (
        (np.asarray(momentum, np.float32) * np.float32(mu)).astype(np.float32) + g)
    return fma32(v, np.float32(-lr), weight), v.astype(np.float32)


@dataclass(frozen=True)
class AdamWParams:
    """AdamW's hyper-parameters for one parameter (``weight_decay`` 0 where it gets none)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float


def adamw(weight: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
          step: int, hp: AdamWParams, sqrt: Callable[[np.ndarray], np.ndarray] = np.sqrt
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One fp32 AdamW step, the ``step``-th (1-based; the moments are zero before the first):
    ``(w', exp_avg', exp_avg_sq')``.

    ``sqrt`` is the fp32 square root: numpy's (correctly rounded, the WUVE's) by default.
    """
    f32 = np.float32
    w, g = np.asarray(weight, f32), np.asarray(grad, f32)
    m, v = np.asarray(exp_avg, f32), np.asarray(exp_avg_sq, f32)
    with np.errstate(all="ignore"):  # inf and NaN propagate as in torch
        if hp.weight_decay != 0:
            w = w * f32(1 - hp.lr * hp.weight_decay)
        # torch's lerp: self + wt·(end − self) for a small weight, else end − (end − self)(1 − wt),
        # both as one fused multiply-add (its vectorized and scalar kernels agree).
        weight1 = f32(1 - hp.beta1)
        diff = g - m
        m_new = (fma32(weight1, diff, m) if abs(weight1) < 0.5
                 else fma32(weight1 - f32(1), diff, g))
        v_new = fma32(f32(1 - hp.beta2) * g, g, v * f32(hp.beta2))
        bias1 = 1 - hp.beta1 ** float(step)
        bias2_sqrt = (1 - hp.beta2 ** float(step)) ** 0.5
        denom = np.asarray(sqrt(v_new), f32) / f32(bias2_sqrt) + f32(hp.eps)
        w_new = w + (f32(-(hp.lr / bias1)) * m_new) / denom
    return w_new.astype(f32), m_new, v_new.astype(f32)


def faithful_sqrt(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two fp32 values either side of ``√x`` (equal where the root is exact): what a
    faithfully rounded square root may return."""
    x = np.asarray(x, np.float32)
    with np.errstate(all="ignore"):
        exact = np.sqrt(x.astype(np.float64))
        near = exact.astype(np.float32)
        far = np.nextafter(near, np.where(exact > near, np.float32(np.inf), np.float32(-np.inf)))
    same = (near.astype(np.float64) == exact) | ~np.isfinite(exact)
    far = np.where(same, near, far)
    return np.minimum(near, far), np.maximum(near, far)


def recast(weight: np.ndarray, fmt: str) -> np.ndarray:
    """The training-precision copy of the master weight the next step's GEMMs read."""
    return round_to(weight, fmt)
