"""The functional datapath computes the cycle-stepped reference's output registers, bit for bit,
in every number format, dataflow, N:M pattern, K tiling and edge-tile shape."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.errors import SatsimError
from satsim.functional.datapath import emulate, segments, store
from satsim.functional.formats import Arithmetic
from satsim.timing.reference import run_reference
from satsim.types import NMPattern, Stationarity

PATTERNS = [None, NMPattern(1, 2), NMPattern(2, 4), NMPattern(1, 4), NMPattern(2, 8),
            NMPattern(3, 5)]
FORMATS = [("fp32", "fp32"), ("bf16", "fp32"), ("fp16", "fp32"), ("fp8_e4m3", "fp32"),
           ("fp8_e5m2", "fp32"), ("fp16", "fp16"), ("bf16", "bf16"), ("int8", "int32")]


def _operands(rng, shape, fmt: str, scale: float) -> np.ndarray:
    if fmt == "int8":
        return rng.integers(-127, 128, shape).astype(np.float32)
    # Spread magnitudes over a few binades so that rounding and order matter.
    return (rng.standard_normal(shape) * scale * 2.0 ** rng.integers(-6, 6, shape)).astype(
        np.float32)


def _reference(a, b, pattern, stationarity, rows, cols, arith, group_slice):
    """The reference run once per K slice (whole groups), each slice's results added to the
    partial sums the output buffer holds: what a schedule that slices K executes."""
    k = a.shape[1]
    out = None
    for lo in range(0, k, group_slice):
        hi = min(lo + group_slice, k)
        out = run_reference(a[:, lo:hi], b[lo:hi], rows=rows, cols=cols,
                            stationarity=stationarity, interleave=True, pattern=pattern,
                            numerics=arith, initial=out).output
    return out


def _bits(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


@settings(max_examples=800, deadline=None, derandomize=True)
@given(fmt=st.sampled_from(FORMATS), pattern=st.sampled_from(PATTERNS),
       stationarity=st.sampled_from([Stationarity.OS, Stationarity.WS]),
       rows=st.integers(1, 5), cols=st.integers(1, 4), m=st.integers(1, 9),
       k=st.integers(1, 24), n=st.integers(1, 7), slices=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_functional_equals_reference_bits(fmt, pattern, stationarity, rows, cols, m, k, n,
                                          slices, seed):
    """Identical bits (``.view(uint32)``) between the vectorized datapath and the reference's
    output registers, including K sliced into whole groups and edge tiles of every shape."""
    arith = Arithmetic(*fmt)
    rng = np.random.default_rng(seed)
    a = _operands(rng, (m, k), fmt[0], 3.0)
    b = _operands(rng, (k, n), fmt[0], 1.0)
    group = pattern.m if pattern else 1
    groups = -(-k // group)
    group_slice = -(-groups // slices) * group  # K per slice, whole groups
    ref = _reference(a, b, pattern, stationarity, rows, cols, arith, group_slice)
    weight = store(arith.operands(b), pattern)
    slice_rows = group_slice // group * (pattern.n if pattern else 1)
    got = emulate(arith.operands(a), weight, stationarity=stationarity, rows=rows, arith=arith,
                  slice_rows=slice_rows)
    np.testing.assert_array_equal(_bits(got), _bits(ref))


def test_order_matters_so_the_property_can_fail():
    """WS's R-row segments and OS's single sum give different fp32 bits on the same operands:
    the property test above distinguishes accumulation orders."""
    arith = Arithmetic("bf16", "fp32")
    rng = np.random.default_rng(1)
    a = arith.operands(_operands(rng, (16, 64), "bf16", 3.0))
    weight = store(arith.operands(_operands(rng, (64, 16), "bf16", 1.0)), NMPattern(2, 4))
    os_ = emulate(a, weight, stationarity=Stationarity.OS, rows=4, arith=arith)
    ws = emulate(a, weight, stationarity=Stationarity.WS, rows=4, arith=arith)
    assert np.any(_bits(os_) != _bits(ws))


def test_segments_follow_the_mapping():
    """OS sums each K slice in one segment; WS restarts its R-row tiles at every slice."""
    assert segments(10, Stationarity.OS, 4).tolist() == [0, 10]
    assert segments(10, Stationarity.OS, 4, 6).tolist() == [0, 6, 10]
    assert segments(10, Stationarity.WS, 4).tolist() == [0, 4, 8, 10]
    assert segments(10, Stationarity.WS, 4, 6).tolist() == [0, 4, 6, 10]


def test_sparse_path_selects_through_the_index():
    """A pruned weight is never multiplied: an infinite activation facing only pruned weights
    leaves the output finite (a dense ``W ⊙ mask`` product would give NaN)."""
    arith = Arithmetic("fp32", "fp32")
    b = np.array([[1.0], [0.0], [2.0], [0.0]], dtype=np.float32)  # keeps rows 0 and 2
    a = np.array([[1.0, np.inf, 1.0, 1.0]], dtype=np.float32)
    out = emulate(a, store(b, NMPattern(2, 4)), stationarity=Stationarity.OS, rows=2,
                  arith=arith)
    assert out.tolist() == [[3.0]]
    with np.errstate(invalid="ignore"):
        assert np.isnan(a @ b).all()


def test_int32_overflow_is_refused():
    """int8 products that could overflow the int32 accumulator are an error, not a wrap."""
    arith = Arithmetic("int8", "int32")
    a = np.full((1, 200_000), 127.0)
    b = np.full((200_000, 1), 127.0)
    with pytest.raises(SatsimError, match="int32"):
        emulate(a, store(b, None), stationarity=Stationarity.OS, rows=4, arith=arith)


def test_format_pairs_are_checked():
    """int8 operands need int32 accumulators and the other way round."""
    with pytest.raises(SatsimError, match="numerics.accumulate"):
        Arithmetic("int8", "fp32")
    with pytest.raises(SatsimError, match="numerics.accumulate"):
        Arithmetic("fp16", "int32")
