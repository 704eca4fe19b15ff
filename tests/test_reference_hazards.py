"""The cycle-stepped reference is an oracle: a wrong issue rule fails loudly and fast."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.timing.reference import HazardError, run_reference
from satsim.types import NMPattern, Stationarity

PATTERNS = [None, NMPattern(1, 2), NMPattern(2, 4), NMPattern(1, 8)]


def _operands(m: int, k: int, n: int):
    rng = np.random.default_rng(m * 10_000 + k * 100 + n)
    return rng.integers(-4, 5, (m, k)).astype(float), rng.integers(-4, 5, (k, n)).astype(float)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), m=st.integers(1, 24),
       k=st.integers(1, 24), n=st.integers(1, 24), pattern=st.sampled_from(PATTERNS))
def test_os_period_shortened_by_one_raises(rows, cols, m, k, n, pattern):
    """OS, interleaved, two or more folds: issuing one cycle before ``max(T, R)`` either
    collides two folds in a stream lane (T binds) or overwrites an unread output register
    (R binds). Either way the reference raises HazardError."""
    if -(-m // rows) * -(-n // cols) < 2:
        return  # one fold: there is no period to shorten
    a, b = _operands(m, k, n)
    with pytest.raises(HazardError):
        run_reference(a, b, rows=rows, cols=cols, stationarity=Stationarity.OS,
                      interleave=True, pattern=pattern, period_offset=-1)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), m=st.integers(1, 24),
       k=st.integers(1, 24), n=st.integers(1, 24))
def test_ws_stream_period_shortened_by_one_raises(rows, cols, m, k, n):
    """WS, interleaved, two or more folds, stream-bound (T = M > R, C): starting a fold one
    cycle before the previous fold's stream has left lane 0 collides the two folds there."""
    if m <= max(rows, cols) or -(-k // rows) * -(-n // cols) < 2:
        return  # the loader handshake, not the stream, sets the period
    a, b = _operands(m, k, n)
    with pytest.raises(HazardError, match="collide"):
        run_reference(a, b, rows=rows, cols=cols, stationarity=Stationarity.WS,
                      interleave=True, period_offset=-1)


@pytest.mark.parametrize("stationarity", [Stationarity.OS, Stationarity.WS])
def test_unshortened_period_is_hazard_free(stationarity):
    """The control case: the same shapes with the documented period run to completion."""
    a, b = _operands(12, 10, 9)
    ref = run_reference(a, b, rows=3, cols=4, stationarity=stationarity, interleave=True)
    np.testing.assert_array_equal(ref.output, a @ b)


@pytest.mark.parametrize("stationarity", [Stationarity.OS, Stationarity.WS])
def test_a_rule_that_never_issues_trips_the_watchdog(stationarity):
    """A controller that never starts the next fold does not loop forever: the watchdog stops
    the run at twice its non-interleaved time."""
    a, b = _operands(8, 8, 8)
    with pytest.raises(HazardError, match="watchdog"):
        run_reference(a, b, rows=2, cols=2, stationarity=stationarity, interleave=True,
                      period_offset=10**9)
