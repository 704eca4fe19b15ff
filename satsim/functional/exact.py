"""The exact result of a GEMM on the operands the datapath sees, rounded once.

``exact = round(scale · (A @ B) + bias)``: the real-number value, rounded once to the output
format (to nearest, ties to even; fp8_e4m3 saturates). A and B must hold values whose pairwise
products are exact in float64 — floats of at most 26 significant bits (fp32, bf16, fp16, fp8)
or small integers (int8, with the dequantization scale in ``scale``).

**How.** The sum is formed in float64 (BLAS, in any order). Whatever the order, its error is
at most ``γ_n · (|scale|·(|A| @ |B|) + |bias|)`` with ``γ_n = n·u/(1 − n·u)``, ``u = 2⁻⁵³``
and ``n = K + 2`` (the K products and additions, the scaling, the bias) [Higham, *Accuracy
and Stability of Numerical Algorithms*, 2nd ed., §3.1]. Rounding is monotone, so where both
ends of that interval round to the same value (and, for a zero, have the same sign), that
value is the exact one rounded once. The other elements — a sum within the float64 error of
a rounding boundary, an exact midpoint for instance — are summed again in exact integer
arithmetic and rounded by the rule itself. Every element is therefore correctly rounded, and
the result does not depend on the BLAS's order or thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import ml_dtypes
import numpy as np

from satsim.functional.formats import E4M3_MAX, FLOAT_DTYPES, round_once

U64 = 2.0**-53


@dataclass(frozen=True)
class ExactResult:
    """The exact GEMM result rounded once, and what it cost to be sure of it.

    ``values`` [M, N] float32 (the format's values); ``magnitude`` [M, N] float64, an upper
    bound of ``|scale|·(|A| @ |B|) + |bias|`` (what error bounds scale with); ``recomputed``:
    elements the float64 sum could not decide, summed in exact arithmetic instead.
    """

    values: np.ndarray
    magnitude: np.ndarray
    recomputed: int


def exact_gemm(a: np.ndarray, b: np.ndarray, fmt: str, *, scale: float = 1.0,
               bias: np.ndarray | None = None) -> ExactResult:
    """``round(scale·(A @ B) + bias)`` to ``fmt``, rounded once from the exact value.

    Parameters
    ----------
    a, b
        A [M, K] and B [K, N]; their products must be exact in float64 (see the module).
    fmt
        The output's floating format (``fp32``, ``bf16``, ``fp16``, ``fp8_*``).
    scale
        A float64 factor applied to the sum (int8: the product of the two scales).
    bias
        [N] values added to every row, or None.
    """
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    bias64 = np.zeros(b64.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)
    total = scale * (a64 @ b64) + bias64[None, :]
    n = a64.shape[1] + 2
    magnitude = abs(scale) * _abs_product(a, b) + np.abs(bias64)[None, :]
    # Twice the error bound: covers γ_n's denominator and the rounding of total ± slack.
    slack = 2 * n * U64 * magnitude
    low, high = total - slack, total + slack
    lo, hi = round_once(low, fmt), round_once(high, fmt)
    decided = (lo == hi) & ((lo != 0) | (np.sign(low) == np.sign(high)))
    # A decided zero takes the interval's sign; an exact zero is +0 (as an IEEE sum gives).
    values = np.where(lo == 0, np.where(high < 0, np.float32(-0.0), np.float32(0.0)), lo)
    rows, cols = np.nonzero(~decided)
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        exact = _exact_sum(a64[i] * b64[:, j]) * Fraction(scale) + Fraction(bias64[j])
        values[i, j] = round_rational(exact, fmt)
    return ExactResult(values, magnitude, int(rows.size))


def _abs_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An upper bound of ``|A| @ |B|``, as float64.

    Summed in fp32, twice as fast as float64, then enlarged to a bound: a sum of K
    non-negative products in fp32 is at most ``γ_K(2⁻²⁴) <= 2·K·2⁻²⁴`` below the true one, and
    each product below fp32's normal range loses at most 2⁻¹⁴⁹ — only when the operands' least
    non-zero magnitudes allow such a product, so that an exact zero keeps a zero bound (and is
    decided at once). Where fp32 overflows, float64.
    """
    k = a.shape[1]
    with np.errstate(over="ignore"):
        fast = np.abs(np.asarray(a, np.float32)) @ np.abs(np.asarray(b, np.float32))
    lost = k * 2.0**-149 if _least(a) * _least(b) < 2.0**-126 else 0.0
    bound = fast.astype(np.float64) * (1 + 2 * (k + 1) * 2.0**-24) + lost
    if not np.isfinite(bound).all():
        bound = (np.abs(np.asarray(a, np.float64)) @ np.abs(np.asarray(b, np.float64))) * (
            1 + 2 * (k + 1) * U64)
    return bound


def _least(x: np.ndarray) -> float:
    """The least non-zero magnitude in ``x`` (inf if there is none), as float64."""
    nonzero = np.abs(np.asarray(x, dtype=np.float64))
    nonzero = nonzero[nonzero != 0]
    return float(nonzero.min()) if nonzero.size else math.inf


def _exact_sum(products: np.ndarray) -> Fraction:
    """The exact sum of float64 values, as integers: each is ``m·2^e`` with a 53-bit ``m``."""
    products = products[products != 0]
    if not products.size:
        return Fraction(0)
    mantissa, exponent = np.frexp(products)
    ints = (mantissa * 2.0**53).astype(np.int64)  # exact: |mantissa| < 1 has 53 bits
    shift = exponent.astype(np.int64) - 53
    low = int(shift.min())
    total = sum(int(m) << int(s) for m, s in zip(ints.tolist(), (shift - low).tolist(),
                                                 strict=True))
    return Fraction(total) * Fraction(2) ** low


def round_rational(value: Fraction, fmt: str) -> float:
    """An exact rational rounded to ``fmt`` by the rule itself: to nearest, ties to even;
    beyond the largest value ±inf (fp8_e4m3: ±448); a zero keeps the value's sign."""
    if value == 0:
        return 0.0
    info = ml_dtypes.finfo(FLOAT_DTYPES[fmt])
    num, den = abs(value.numerator), value.denominator
    exp = num.bit_length() - den.bit_length()  # floor(log2 |value|) is exp or exp - 1
    if (num << max(-exp, 0)) < (den << max(exp, 0)):
        exp -= 1
    quantum = Fraction(2) ** (max(exp, int(info.minexp)) - int(info.nmant))
    rounded = round(value / quantum) * quantum  # Fraction.__round__: ties to even
    if abs(rounded) > float(info.max):
        limit = E4M3_MAX if fmt == "fp8_e4m3" else math.inf
        return math.copysign(limit, value)
    return math.copysign(float(rounded), value)
