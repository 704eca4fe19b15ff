"""N:M selection and compression of a weight operand along its reduction dimension.

Tie rule: within a group, larger magnitude wins; among equal magnitudes the lower index wins.
It is what a hardware top-N sorter that only replaces on strictly-greater does.
"""

from __future__ import annotations

import numpy as np

from satsim.types import NMPattern


def groups(b: np.ndarray, m: int) -> np.ndarray:
    """``b`` [K, N] zero-padded along K to whole groups, shaped [G, m, N]."""
    k, n_cols = b.shape
    g = -(-k // m)
    padded = np.zeros((g * m, n_cols), dtype=b.dtype)
    padded[:k] = b
    return padded.reshape(g, m, n_cols)


def _kept_positions(b: np.ndarray, pattern: NMPattern) -> np.ndarray:
    """In-group positions [G, n, N] kept by the N:M rule, ascending within each group."""
    grouped = groups(b, pattern.m)
    # Stable sort on -|w| keeps lower indices first among equal magnitudes.
    order = np.argsort(-np.abs(grouped), axis=1, kind="stable")
    return np.sort(order[:, : pattern.n, :], axis=1)


def nm_mask(b: np.ndarray, pattern: NMPattern) -> np.ndarray:
    """Boolean mask of ``b`` [K, N] keeping the top-n magnitudes of each group of m along K."""
    k = b.shape[0]
    mask = np.zeros((-(-k // pattern.m), pattern.m, b.shape[1]), dtype=bool)
    np.put_along_axis(mask, _kept_positions(b, pattern), True, axis=1)
    return mask.reshape(-1, b.shape[1])[:k]


def compress(b: np.ndarray, pattern: NMPattern) -> tuple[np.ndarray, np.ndarray]:
    """Compress ``b`` [K, N] to ``(values, index)``, each [G*n, N].

    Compressed row ``g*n + q`` holds the q-th kept element of group ``g`` (ascending position);
    ``index`` is its position inside the group, what a PE's M:1 operand mux selects with.
    """
    positions = _kept_positions(b, pattern)  # [G, n, N]
    values = np.take_along_axis(groups(b, pattern.m), positions, axis=1)
    rows = positions.shape[0] * pattern.n
    return values.reshape(rows, -1), positions.reshape(rows, -1)


def group_vectors(a: np.ndarray, m: int) -> np.ndarray:
    """Activations ``a`` [M, K] as group vectors [M, G, m] (zero-padded), one per N:M group."""
    return groups(a.T, m).transpose(2, 0, 1)
