"""WUVE emulation: the traced optimizer's update of an fp32 master weight, then its copy in the
training precision.

SGD with momentum (``torch.optim.SGD(momentum=μ)``, no dampening, no weight decay), in fp32
and in the order torch's CPU kernels compute it:

* the gradient: ``g = fp32(dW) + λ·(W with the FF-kept weights zeroed)`` (SR-STE; λ = 0 for a
  dense layer): a product and a sum, each rounded;
* the momentum: ``v' = μ·v + g`` (``v' = g`` on the first step): a product, then a sum;
* the weight: ``w' = w + (−lr)·v'`` as **one fused multiply-add** (torch's vectorized
  ``add(alpha=...)``; two roundings would differ in about 8 % of the elements);
* the copy: ``w'`` rounded to the operand format (ties to even).
"""

from __future__ import annotations

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


def recast(weight: np.ndarray, fmt: str) -> np.ndarray:
    """The training-precision copy of the master weight the next step's GEMMs read."""
    return round_to(weight, fmt)
