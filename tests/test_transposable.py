"""Masks for the backward-pass recipes: transposable N:M masks (N:M along both dimensions) and
SLoPe's double pruning (a BP mask N:M along the output dimension, inside the FF mask)."""

import itertools

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from satsim.capture.masks import (  # noqa: E402
    nm_mask,  # noqa: E402
    patterns,
    slope_bp_mask,
    transposable_mask,
)
from satsim.errors import SatsimError  # noqa: E402

pytestmark = pytest.mark.torch
PATTERNS = [(1, 4), (2, 4), (2, 8)]


def _group_counts(mask: torch.Tensor, m: int, dim: int) -> torch.Tensor:
    """Kept entries in every group of ``m`` consecutive elements along ``dim``."""
    moved = mask.movedim(dim, -1)
    return moved.reshape(*moved.shape[:-1], -1, m).sum(-1)


@settings(max_examples=40, deadline=None)
@given(nm=st.sampled_from(PATTERNS), rows=st.integers(1, 4), cols=st.integers(1, 4),
       conv=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_transposable_mask_is_nm_along_both_dimensions(nm, rows, cols, conv, seed):
    """Random linear and conv weights (sizes whole blocks): every group of M along the input
    dimension (FF) and along the output dimension (BP) keeps at most N; with M <= 4 (the exact
    search) exactly N."""
    n, m = nm
    gen = torch.Generator().manual_seed(seed)
    shape = (rows * m, cols * m, 3, 3) if conv else (rows * m, cols * m)
    mask = transposable_mask(torch.randn(shape, generator=gen), n, m)
    assert mask.shape == shape and mask.dtype == torch.bool
    for dim in (0, 1):
        counts = _group_counts(mask, m, dim)
        assert int(counts.max()) <= n
        if m <= 4:
            assert bool((counts == n).all())


def _brute_force(block: torch.Tensor, n: int) -> float:
    """The largest magnitude sum any mask with N per row and column keeps (itertools)."""
    m = block.shape[0]
    best = 0.0
    for choice in itertools.product(itertools.combinations(range(m), n), repeat=m):
        if all(sum(c in cols for cols in choice) == n for c in range(m)):
            best = max(best, sum(float(block[r, c]) for r, cols in enumerate(choice)
                                 for c in cols))
    return best


@pytest.mark.parametrize("n", [1, 2, 3])
def test_exact_search_keeps_the_most_magnitude(n):
    """For M = 4 the search keeps, in every block, the largest magnitude sum a transposable
    mask can keep (checked against a brute force written apart), and never less than the
    greedy search would."""
    from satsim.capture.masks import _greedy

    torch.manual_seed(n)
    weight = torch.randn(8, 12)
    mask = transposable_mask(weight, n, 4)
    for r, c in itertools.product(range(2), range(3)):
        block = weight[4 * r:4 * r + 4, 4 * c:4 * c + 4].abs()
        kept = float((block * mask[4 * r:4 * r + 4, 4 * c:4 * c + 4]).sum())
        assert kept == pytest.approx(_brute_force(block, n), rel=1e-6)
        greedy = _greedy(block.reshape(1, 16), n, 4).reshape(4, 4)
        assert kept >= float((block * greedy).sum()) - 1e-6


def test_pattern_counts_are_the_known_ones():
    """4x4 0/1 matrices with n ones per row and column: 24 (n = 1, 3) and 90 (n = 2)."""
    assert [len(patterns(n, 4)) for n in (1, 2, 3)] == [24, 90, 24]


def test_transposable_mask_refuses_shapes_that_are_not_whole_blocks():
    """A channel count that M does not divide is an error naming the sizes."""
    with pytest.raises(SatsimError, match="divisible by 4, got 6 x 8"):
        transposable_mask(torch.randn(6, 8), 2, 4)


def test_transposable_mask_is_shape_only_under_fake_tensors():
    """Under FakeTensorMode (shapes-only captures) the mask is one op with a bool result."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        mask = transposable_mask(torch.empty(16, 32), 2, 4)
    assert mask.shape == (16, 32) and mask.dtype == torch.bool


@settings(max_examples=40, deadline=None)
@given(nm=st.sampled_from(PATTERNS), rows=st.integers(1, 4), cols=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1))
def test_slope_bp_weights_are_nm_transposed_and_inside_the_ff_mask(nm, rows, cols, seed):
    """SLoPe's BP mask is N:M along the output dimension (BP's reduction), a subset of the FF
    mask, and keeps, of the FF survivors of each group, the largest."""
    n, m = nm
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(rows * m, cols * m, generator=gen)
    m_ff = nm_mask(weight, n, m, dim=1)
    m_bp = slope_bp_mask(weight, m_ff, n, m)
    assert int(_group_counts(m_bp, m, 0).max()) <= n
    assert not bool((m_bp & ~m_ff).any())
    survivors = (weight * m_ff).abs()
    expected = nm_mask(survivors, n, m, dim=0) & (survivors > 0)
    assert torch.equal(m_bp, expected)
