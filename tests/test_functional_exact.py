"""The exact reference of ``satsim validate``: GEMM results rounded once from the exact value."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from satsim.functional.exact import exact_gemm, round_rational
from satsim.functional.formats import FLOAT_DTYPES, round_once, round_to

FORMATS = ("fp32", "bf16", "fp16", "fp8_e5m2", "fp8_e4m3")


def _rational_gemm(a: np.ndarray, b: np.ndarray, fmt: str, scale: float = 1.0,
                   bias: np.ndarray | None = None) -> np.ndarray:
    """The definition, element by element in exact rationals."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            value = sum((Fraction(float(x)) * Fraction(float(y)) for x, y in zip(
                a[i], b[:, j], strict=True)), Fraction(0)) * Fraction(scale)
            if bias is not None:
                value += Fraction(float(bias[j]))
            out[i, j] = round_rational(value, fmt)
    return out


def _bits(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_once_follows_the_rule_at_midpoints(fmt):
    """float64 -> fmt rounds once, directly: at every midpoint between neighbours of the format
    (ties to even) and one float64 step either side of it, numpy/ml_dtypes give what the
    rational rule gives; no fp32 step in between."""
    dtype = FLOAT_DTYPES[fmt]
    width = 32 if fmt == "fp32" else 16 if fmt in ("bf16", "fp16") else 8
    unsigned = {32: np.uint32, 16: np.uint16, 8: np.uint8}[width]
    patterns = np.random.default_rng(0).integers(0, 2**width, 4000, dtype=np.uint64)
    with np.errstate(invalid="ignore"):  # NaN patterns are dropped below
        values = patterns.astype(unsigned).view(dtype).astype(np.float64)
    values = np.unique(values[np.isfinite(values)])
    mid = (values[:-1] + values[1:]) / 2
    mid = mid[np.abs(mid) < float(ml_dtypes.finfo(dtype).max)]
    x = np.concatenate([mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf)])
    expected = np.array([round_rational(Fraction(float(v)), fmt) for v in x], np.float32)
    assert (_bits(round_once(x, fmt)) == _bits(expected)).all()


@pytest.mark.parametrize("fmt, value, expected", [
    ("fp16", Fraction(1) + Fraction(1, 2**11), 1.0),  # a tie: to even
    ("fp16", Fraction(1) + Fraction(3, 2**11), 1 + 2**-9),  # a tie: to even, upwards
    ("fp16", Fraction(1) + Fraction(1, 2**11) + Fraction(1, 2**70), 1 + 2**-10),
    ("fp16", Fraction(65519), 65504.0),
    ("fp16", Fraction(65520), np.inf),  # the tie above the largest value overflows
    ("fp16", Fraction(3, 2**26), 2.0**-24),  # subnormal
    ("fp16", Fraction(-1, 2**26), -0.0),  # underflow keeps the sign
    ("bf16", Fraction(1) + Fraction(1, 2**8) + Fraction(1, 2**30), 1 + 2**-7),
    ("fp8_e4m3", Fraction(500), 448.0),  # saturates
    ("fp8_e4m3", Fraction(-10**6), -448.0),
    ("fp32", Fraction(1) + Fraction(1, 2**24) + Fraction(1, 2**60), 1 + 2**-23),
])
def test_round_rational_is_the_rule(fmt, value, expected):
    """Exact rationals round to nearest, ties to even, overflow to inf (e4m3 saturates), and
    a value that rounds to zero keeps its sign."""
    got = round_rational(value, fmt)
    assert _bits(got) == _bits(expected)


@pytest.mark.parametrize("fmt", ["fp32", "bf16", "fp16"])
def test_exact_gemm_is_correctly_rounded(fmt):
    """On random operands of the format (products exact in float64) with a bias, every
    element equals the exact rational sum rounded once."""
    rng = np.random.default_rng(1)
    a = round_to(rng.standard_normal((6, 40)) * 2.0 ** rng.integers(-6, 6, (6, 40)), fmt)
    b = round_to(rng.standard_normal((40, 5)), fmt)
    bias = round_to(rng.standard_normal(5), fmt)
    got = exact_gemm(a, b, fmt, bias=bias)
    assert (_bits(got.values) == _bits(_rational_gemm(a, b, fmt, bias=bias))).all()
    assert (got.magnitude >= np.abs(a).astype(np.float64) @ np.abs(b) + np.abs(bias)).all()


def test_exact_gemm_decides_what_float64_cannot():
    """1 + 2⁻¹¹ + 2⁻⁷⁰ lies just above an fp16 tie: float64 loses the 2⁻⁷⁰ and would round
    the tie to 1.0; the exact sum rounds up. Exact zeros are +0, a tiny negative sum -0."""
    a = np.array([[1 + 2.0**-11, 2.0**-40],   # fp32 operands: products exact in float64
                  [1.0, -1.0],
                  [2.0**-40, 0.0]], dtype=np.float32)
    b = np.array([[1.0, 1.0], [2.0**-30, 1.0]], dtype=np.float32)
    got = exact_gemm(a, b, "fp16")
    assert got.values[0, 0] == 1 + 2.0**-10 and got.recomputed >= 1
    assert _bits(got.values[1, 1]) == _bits(0.0)  # 1 - 1: exactly zero
    b_neg = np.array([[-1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    assert _bits(exact_gemm(a[2:], b_neg, "fp16").values[0, 0]) == _bits(-0.0)


def test_exact_gemm_does_not_depend_on_the_order():
    """Permuting the reduction (another summation order in float64) gives the same bits."""
    rng = np.random.default_rng(2)
    a = round_to(rng.standard_normal((64, 300)), "bf16")
    b = round_to(rng.standard_normal((300, 48)), "bf16")
    order = rng.permutation(300)
    first = exact_gemm(a, b, "bf16").values
    assert (_bits(first) == _bits(exact_gemm(a[:, order], b[order], "bf16").values)).all()


def test_exact_gemm_with_int8_scale():
    """int8 operands with the product of their scales and an fp32 bias: the dequantized
    value, rounded once to fp32."""
    rng = np.random.default_rng(3)
    a = rng.integers(-127, 128, (4, 30)).astype(np.float64)
    b = rng.integers(-127, 128, (30, 3)).astype(np.float64)
    scale = float(np.float32(0.0123)) * float(np.float32(0.0456))
    bias = rng.standard_normal(3).astype(np.float32)
    got = exact_gemm(a, b, "fp32", scale=scale, bias=bias)
    assert (_bits(got.values) == _bits(_rational_gemm(a, b, "fp32", scale, bias))).all()


def test_exact_gemm_beyond_fp32_range():
    """bf16 operands whose products overflow or underflow fp32: the magnitude is still an
    upper bound of |A|@|B| and the result still exact (2²⁰⁰ − 2²⁰⁰ = +0; 2⁻²⁰⁰ rounds to +0)."""
    big = exact_gemm(np.array([[2.0**100, 2.0**100]]), np.array([[2.0**100], [-(2.0**100)]]),
                     "bf16")
    tiny = exact_gemm(np.array([[2.0**-100]]), np.array([[2.0**-100]]), "bf16")
    for got, peak in ((big, 2.0**201), (tiny, 2.0**-200)):
        assert _bits(got.values[0, 0]) == _bits(0.0) and got.magnitude[0, 0] >= peak


def test_exact_zeros_are_decided_without_the_exact_sum():
    """Rows of A that are all zero (the zero-inserted rows of a strided conv's BP) give exact
    zeros with a zero magnitude: decided at once, none summed again in exact arithmetic."""
    a = round_to(np.random.default_rng(4).standard_normal((8, 16)), "fp16")
    a[::2] = 0
    b = round_to(np.random.default_rng(5).standard_normal((16, 4)), "fp16")
    got = exact_gemm(a, b, "fp16")
    assert (got.magnitude[::2] == 0).all() and (_bits(got.values[::2]) == _bits(0.0)).all()
    assert got.recomputed == 0
