"""Vectorized emulation of the STCE's values: the same numbers as the cycle-stepped reference.

The op is ``C[M, N] = A[M, K] @ B[K, N]`` with B the weight operand, stored as the hardware
stores it (:class:`StoredWeight`): compressed values and in-group indices for an N:M B, the
values alone for a dense one. A sparse PE multiplies its weight by the activation its M:1 mux
selects with the index; pruned weights are never multiplied (so a pruned weight facing an
infinite activation makes no NaN, while a dense ``W ⊙ mask`` product would).

Accumulation order (``docs/microarchitecture.md``): each output is a sum of **segments**
added in ascending order in the output buffer (which starts at +0); each segment is a
sequential sum from +0 over ascending compressed reduction rows. The segments:

* OS: one per K slice of the schedule (the whole reduction when it is not sliced);
* WS: the weight tiles of R compressed rows, restarting at every K slice.

Interleaving, M and N tiling change when values are computed, never which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from satsim.errors import SatsimError
from satsim.functional.formats import INT32_MAX, Arithmetic
from satsim.functional.nm import compress
from satsim.types import NMPattern, Stationarity


@dataclass(frozen=True)
class StoredWeight:
    """Operand B as the array's weight buffer holds it.

    ``values`` [K', N] (K' = K for dense; ``G·n`` compressed rows for N:M, group g's kept
    entries in ascending position) and ``index`` [K', N] (position in the group, the mux
    select; None when dense). ``k`` is the uncompressed reduction length.
    """

    values: np.ndarray
    index: np.ndarray | None
    pattern: NMPattern | None
    k: int

    @property
    def k_eff(self) -> int:
        return self.values.shape[0]


def store(b: np.ndarray, pattern: NMPattern | None) -> StoredWeight:
    """``b`` [K, N] stored dense, or pruned N:M (top-n magnitudes, lower index on ties) and
    compressed."""
    if pattern is None:
        return StoredWeight(np.asarray(b), None, None, b.shape[0])
    values, index = compress(np.asarray(b), pattern)
    return StoredWeight(values, index.astype(np.uint8), pattern, b.shape[0])


def segments(k_eff: int, stationarity: Stationarity, rows: int, slice_rows: int | None = None
             ) -> np.ndarray:
    """Boundaries ``[0, ..., k_eff]`` of the summation segments over the compressed reduction.

    ``slice_rows``: compressed rows per K slice of the schedule (None: not sliced).
    """
    slice_rows = slice_rows or k_eff
    cuts: list[int] = []
    for lo in range(0, k_eff, slice_rows):
        hi = min(lo + slice_rows, k_eff)
        step = hi - lo if stationarity is Stationarity.OS else rows
        cuts.extend(range(lo, hi, step))
    return np.array([*cuts, k_eff], dtype=np.int64)


@numba.njit(cache=True, fastmath=False, nogil=True)
def _native(a, values, index, bounds, n, m, sparse):  # pragma: no cover - compiled
    """Segmented sums in the arrays' own arithmetic (fp32, or exact integers in float64)."""
    rows, cols = a.shape[0], values.shape[1]
    out = np.zeros((rows, cols), dtype=values.dtype)
    acc = np.zeros(cols, dtype=values.dtype)
    for i in range(rows):
        for s in range(bounds.shape[0] - 1):
            acc[:] = 0
            for k in range(bounds[s], bounds[s + 1]):
                if sparse:
                    base = (k // n) * m
                    for j in range(cols):
                        acc[j] = acc[j] + values[k, j] * a[i, base + index[k, j]]
                else:
                    x = a[i, k]
                    for j in range(cols):
                        acc[j] = acc[j] + values[k, j] * x
            for j in range(cols):
                out[i, j] = out[i, j] + acc[j]
    return out


def _padded(a: np.ndarray, weight: StoredWeight) -> np.ndarray:
    """A [M, K] zero-padded to whole groups (the idle mux inputs of a short last group)."""
    if weight.pattern is None:
        return a
    width = weight.k_eff // weight.pattern.n * weight.pattern.m
    if width == a.shape[1]:
        return a
    padded = np.zeros((a.shape[0], width), dtype=a.dtype)
    padded[:, : a.shape[1]] = a
    return padded


def _generic(a: np.ndarray, weight: StoredWeight, bounds: np.ndarray,
             arith: Arithmetic) -> np.ndarray:
    """Segmented sums with a rounding step after every operation (narrow accumulators)."""
    values = weight.values
    out = np.zeros((a.shape[0], values.shape[1]), dtype=np.float32)
    cols = np.arange(values.shape[1])
    for s in range(bounds.size - 1):
        acc = np.zeros_like(out)
        for k in range(bounds[s], bounds[s + 1]):
            if weight.pattern is None:
                x = a[:, k : k + 1]
            else:
                x = a[:, (k // weight.pattern.n) * weight.pattern.m + weight.index[k, cols]]
            acc = arith.add(acc, arith.mul(values[k], x))
        out = arith.add(out, acc)
    return out


def emulate(a: np.ndarray, weight: StoredWeight, *, stationarity: Stationarity, rows: int,
            arith: Arithmetic, slice_rows: int | None = None) -> np.ndarray:
    """The accumulators of ``A @ B`` on the array (before any output rounding).

    Parameters
    ----------
    a
        A [M, K] in the operand format (int8: the quantized integers).
    weight
        B as stored (:func:`store`), its values in the operand format.
    stationarity, rows
        The mapping's dataflow and the array's PE rows (WS tiles the reduction by them).
    arith
        The PE arithmetic (formats).
    slice_rows
        Compressed rows per K slice of the schedule (None: the whole reduction).

    Returns
    -------
    np.ndarray
        [M, N] accumulate-format values: float32, or exact integers as float64 for int32.
    """
    if a.shape[1] != weight.k:
        raise ValueError(f"inner dimensions differ: A {a.shape}, B has K = {weight.k}")
    bounds = segments(weight.k_eff, stationarity, rows, slice_rows)
    dtype = np.float64 if arith.integer else np.float32
    a_in = _padded(np.ascontiguousarray(a, dtype=dtype), weight)
    values = np.ascontiguousarray(weight.values, dtype=dtype)
    if arith.integer:
        _check_int32(a_in, weight)
    if not arith.native:
        return _generic(a_in, StoredWeight(values, weight.index, weight.pattern, weight.k),
                        bounds, arith)
    index = (np.zeros((1, 1), dtype=np.uint8) if weight.index is None
             else np.ascontiguousarray(weight.index, dtype=np.uint8))
    n, m = (weight.pattern.n, weight.pattern.m) if weight.pattern else (1, 1)
    return _native(a_in, values, index, bounds, n, m, weight.pattern is not None)


def _check_int32(a: np.ndarray, weight: StoredWeight) -> None:
    """int32 accumulators must not overflow: bound every partial sum by ``max|a|·Σ|w|``."""
    peak = float(np.max(np.abs(a), initial=0.0)) * float(
        np.max(np.sum(np.abs(weight.values), axis=0), initial=0.0))
    if peak > INT32_MAX:
        raise SatsimError(f"int8 products can reach {peak:.0f}, beyond the int32 accumulator "
                          f"({INT32_MAX})", field="numerics.accumulate")
