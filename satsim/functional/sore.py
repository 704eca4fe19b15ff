"""SORE emulation: the N:M mask of a dense weight, as the sparse online reduction engine
generates it.

Each lane streams a group of M weights and keeps the N largest magnitudes; an incoming value
replaces the smallest kept one only if it is **strictly** larger, so among equal magnitudes
the earlier (lower-index) weight stays. The mask is that of :func:`satsim.functional.nm.nm_mask`
(the same rule), applied along the dimension the GEMM reduces over: ``C_in`` (dim 1) for FF,
``C_out`` (dim 0) for BP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from satsim.functional.nm import nm_mask
from satsim.types import NMPattern


def sore_mask(weight: np.ndarray, pattern: NMPattern, dim: int) -> np.ndarray:
    """The mask of ``weight`` keeping the top-n magnitudes of every m along ``dim``."""
    moved = np.moveaxis(np.asarray(weight), dim, 0)
    mask = nm_mask(moved.reshape(moved.shape[0], -1), pattern)
    return np.moveaxis(mask.reshape(moved.shape), 0, dim)


@dataclass(frozen=True)
class TieReport:
    """Groups whose n-th and (n+1)-th largest magnitudes are equal: the tie rule decides."""

    groups: int
    ties: int


def ties(weight: np.ndarray, pattern: NMPattern, dim: int) -> TieReport:
    """Count the groups in which the tie rule chooses between equal magnitudes."""
    moved = np.moveaxis(np.abs(np.asarray(weight)), dim, 0)
    k = moved.shape[0]
    flat = moved.reshape(k, -1)
    g = -(-k // pattern.m)
    padded = np.zeros((g * pattern.m, flat.shape[1]), dtype=flat.dtype)
    padded[:k] = flat
    ranked = -np.sort(-padded.reshape(g, pattern.m, -1), axis=1)
    tied = ranked[:, pattern.n - 1, :] == ranked[:, pattern.n, :]
    return TieReport(int(tied.size), int(tied.sum()))
