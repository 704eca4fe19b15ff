"""N:M selection, compression and patterns."""

import numpy as np
import pytest

from satsim.functional.nm import compress, group_vectors, nm_mask
from satsim.types import NMPattern


def test_mask_keeps_largest_magnitudes_lowest_index_on_ties():
    """Per group of M along K the N largest |w| survive; equal magnitudes: lower index wins."""
    b = np.array([[1.0], [-2.0], [2.0], [0.5]])
    assert nm_mask(b, NMPattern(1, 4))[:, 0].tolist() == [False, True, False, False]
    assert nm_mask(b, NMPattern(2, 4))[:, 0].tolist() == [False, True, True, False]


def test_short_last_group_is_padded():
    """K = 5 at 2:4: the second group holds one real element, and it is kept."""
    b = np.array([[4.0], [3.0], [2.0], [1.0], [-7.0]])
    mask = nm_mask(b, NMPattern(2, 4))
    assert mask[:, 0].tolist() == [True, True, False, False, True]
    values, index = compress(b, NMPattern(2, 4))
    assert values[:, 0].tolist() == [4.0, 3.0, -7.0, 0.0]
    assert index[:, 0].tolist() == [0, 1, 0, 1]


def test_compressed_operands_reproduce_the_pruned_product():
    """Summing value x A[group, index] over compressed rows equals A @ (B * mask)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 13)), rng.normal(size=(13, 3))
    pattern = NMPattern(2, 8)
    values, index = compress(b, pattern)
    groups = group_vectors(a, pattern.m)  # [M, G, m]
    rows = np.arange(values.shape[0])
    picked = groups[:, rows // pattern.n, :]  # [M, K', m]
    product = np.einsum("mpn,pn->mn", np.take_along_axis(
        picked[:, :, None, :], index[None, :, :, None], axis=3)[..., 0], values)
    np.testing.assert_allclose(product, a @ (b * nm_mask(b, pattern)), rtol=1e-12)


@pytest.mark.parametrize(("text", "expected"), [
    ("2:4", NMPattern(2, 4)), (" 1 : 8 ", NMPattern(1, 8)), ("dense", None), ("4:4", None)])
def test_parse(text, expected):
    assert NMPattern.parse(text) == expected


@pytest.mark.parametrize("text", ["3:2", "0:4", "2-4", "x"])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        NMPattern.parse(text)


def test_kept_and_compressed_lengths():
    p = NMPattern(2, 8)
    assert (p.kept(576), p.compressed_length(576)) == (144, 144)
    assert (p.kept(27), p.compressed_length(27)) == (8, 8)  # 3 full groups + 3 left: 6 + 2
    assert (p.kept(25), p.compressed_length(25)) == (7, 8)  # short last group keeps 1
