"""N:M masks, each one op (a tracing mode sees one op per mask; under FakeTensorMode it is
built from the shape alone): the mask of BDWP and SR-STE, and those of the backward-pass
recipes beyond them, transposable N:M masks and SLoPe's double pruning.

* **N:M** (:func:`nm_mask`): the ``n`` largest magnitudes of each ``m`` consecutive weights
  along one dimension.
* **Transposable** (Hu et al., "Accelerating Transformer Pre-training with 2:4 Sparsity",
  ICML 2024): one mask that is N:M along both dimensions of the weight, so ``W ⊙ M`` serves FF
  (groups along the input dimension) and ``(W ⊙ M)ᵀ`` serves BP (groups along the output
  dimension) with no second mask. The weight ``[out, in]`` (a convolution's
  ``[out, in, kh, kw]`` at each kernel tap) is cut into ``m x m`` blocks; each block keeps at
  most ``n`` entries in every row and every column.

  - ``m <= 4``: **exact**. Every ``m x m`` 0/1 matrix with ``n`` ones in each row and column
    is enumerated once (90 for 2:4, 24 for 1:4 and 3:4) and each block takes the one keeping
    the largest sum of magnitudes (ties: the first in lexicographic order of the flattened
    pattern, read as bits from the block's first entry). Cost: one ``[blocks, m²] @ [m², P]``
    product, P patterns.
  - ``m > 4``: **greedy** (the patterns grow too fast: 2:8 has 187,530,840). Each block's
    entries are visited from the largest magnitude down (ties: the lower flat index first)
    and kept while their row and column hold fewer than ``n``. Cost: ``m²`` vectorized steps
    over all blocks. Every row and column keeps at most ``n`` (a valid N:M both ways); a few
    may keep fewer when the larger entries used up their crossing lines.

* **SLoPe double pruning** (Mozaffari et al., "SLoPe: Double-Pruned Sparse Plus Lazy Low-Rank
  Adapter Pretraining of LLMs", ICLR 2025): FF uses ``W ⊙ M_ff`` (N:M along the input
  dimension); BP uses the FF-pruned weight pruned again to N:M along the output dimension,
  ``M_bp = nm_mask(W ⊙ M_ff, dim=0) ∧ M_ff`` — a subset of the FF mask.
"""

from __future__ import annotations

import functools
import itertools

import torch
import torch.nn.functional as F  # noqa: N812

from satsim.errors import SatsimError

EXACT_MAX_M = 4  # the largest group size searched exactly


def check_nm(n: int, m: int) -> None:
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (n, m)) and 1 <= n < m
    if not ok:
        raise SatsimError(f"N:M pattern needs integers with 1 <= N < M, got {n!r}:{m!r}")


def nm_mask(weight: torch.Tensor, n: int, m: int, dim: int) -> torch.Tensor:
    """Boolean N:M mask of ``weight``: the ``n`` largest ``|w|`` of each ``m`` along ``dim``.

    Groups are ``m`` consecutive elements along ``dim`` at every fixed position of the other
    dimensions. A size that is not a multiple of ``m`` gets a zero-padded short last group (the
    padding never wins over a real element). Ties: the lower index wins, as in
    :func:`satsim.functional.nm.nm_mask`.

    Parameters
    ----------
    weight
        Any floating tensor; only its magnitudes are read (no gradient flows).
    n, m
        Keep ``n`` of every ``m``, ``1 <= n < m``.
    dim
        The grouping dimension: 1 for the forward mask of a conv/linear weight, 0 for BP.

    Returns
    -------
    torch.Tensor
        A ``bool`` tensor of ``weight``'s shape.
    """
    check_nm(n, m)
    return _nm_mask(weight.detach(), n, m, dim)


# One op to the dispatcher: a tracing mode sees the mask computed from the weight in one step
# (not ~90 element-wise ops), and FakeTensorMode builds it from its shape alone.
@torch.library.custom_op("satsim::nm_mask", mutates_args=())
def _nm_mask(weight: torch.Tensor, n: int, m: int, dim: int) -> torch.Tensor:
    mag = weight.abs().movedim(dim, -1)
    size = mag.shape[-1]
    groups = -(-size // m)
    # Zero padding sits at higher indices, so it loses every tie against a real zero.
    mag = F.pad(mag, (0, groups * m - size)).reshape(*mag.shape[:-1], groups, m)
    # Laid out like ``mag``: the mask's strides steer the layout of ``W * mask`` and, through
    # it, which convolution kernel runs.
    mask = torch.zeros_like(mag, dtype=torch.bool)
    if m > 32:  # a stable sort on -|w|: among equal magnitudes the lower index comes first
        mask.scatter_(-1, torch.sort(-mag, dim=-1, stable=True).indices[..., :n], True)
    else:
        mask.copy_((_pairwise_rank(mag) < n).movedim(0, -1))
    return mask.reshape(*mask.shape[:-2], groups * m)[..., :size].movedim(-1, dim)


@_nm_mask.register_fake
def _(weight: torch.Tensor, n: int, m: int, dim: int) -> torch.Tensor:
    return torch.empty_like(weight, dtype=torch.bool)


def _pairwise_rank(mag: torch.Tensor) -> torch.Tensor:
    """``[m, ..., groups]`` ranks of ``mag [..., groups, m]``: how many of its group beat each
    element (``|w_j| > |w_i|``, or equal with ``j < i``: a stable sort's order).

    One comparison per pair on contiguous slices, 3-4x faster than sorting groups of m on a
    CPU; uint8 arithmetic wraps, the final counts are below m <= 32.
    """
    m = mag.shape[-1]
    cols = mag.movedim(-1, 0).contiguous()
    rank = torch.zeros_like(cols, dtype=torch.uint8)
    beats = torch.empty_like(cols[0], dtype=torch.bool)
    for i in range(m):
        for j in range(i + 1, m):
            torch.gt(cols[j], cols[i], out=beats)
            rank[i] += beats.view(torch.uint8)
            rank[j] -= beats.view(torch.uint8)  # i beats a later j unless j is larger
        rank[i + 1:] += 1
    return rank


def transposable_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """A mask of ``weight`` that is N:M along both its output (dim 0) and input (dim 1)
    dimensions, per ``m x m`` block (see the module docstring for the search and its cost).

    ``weight`` is ``[out, in]`` or ``[out, in, kh, kw]``; ``out`` and ``in`` must be multiples
    of ``m``. Returns a ``bool`` tensor of ``weight``'s shape.
    """
    check_nm(n, m)
    if weight.dim() not in (2, 4):
        raise SatsimError(f"a transposable mask needs a linear or conv weight, got shape "
                          f"{tuple(weight.shape)}")
    out, inp = weight.shape[:2]
    if out % m or inp % m:
        raise SatsimError(f"a transposable {n}:{m} mask needs both channel counts divisible "
                          f"by {m}, got {out} x {inp}")
    return _transposable_mask(weight.detach(), n, m)


@torch.library.custom_op("satsim::transposable_mask", mutates_args=())
def _transposable_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    mag = weight.abs().float()
    taps = mag.shape[2:]
    # [out, in, *taps] -> blocks [taps..., out/m, in/m, m (row), m (col)]
    mag = mag.reshape(mag.shape[0], mag.shape[1], -1).permute(2, 0, 1)
    t, out, inp = mag.shape
    blocks = mag.reshape(t, out // m, m, inp // m, m).permute(0, 1, 3, 2, 4)
    flat = blocks.reshape(-1, m * m)
    keep = _exact(flat, n, m) if m <= EXACT_MAX_M else _greedy(flat, n, m)
    keep = keep.reshape(t, out // m, inp // m, m, m).permute(0, 1, 3, 2, 4)
    keep = keep.reshape(t, out, inp).permute(1, 2, 0)
    return keep.reshape(out, inp, *taps).contiguous()


@_transposable_mask.register_fake
def _(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    return torch.empty_like(weight, dtype=torch.bool)


@functools.cache
def patterns(n: int, m: int) -> torch.Tensor:
    """Every ``m x m`` 0/1 matrix with ``n`` ones in each row and column, flattened row by
    row, in lexicographic order of their rows' column choices: ``[P, m²]`` (float)."""
    rows = [tuple(c) for c in itertools.combinations(range(m), n)]
    found = []
    for choice in itertools.product(rows, repeat=m):
        counts = [0] * m
        for cols in choice:
            for c in cols:
                counts[c] += 1
        if all(c == n for c in counts):
            flat = [0.0] * (m * m)
            for r, cols in enumerate(choice):
                for c in cols:
                    flat[r * m + c] = 1.0
            found.append(flat)
    return torch.tensor(found)


def _exact(flat: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Per block (a row of ``flat``, ``m²`` magnitudes): the pattern keeping the most."""
    table = patterns(n, m).to(flat.dtype)
    best = (flat @ table.T).argmax(dim=1)  # the first maximum: the earliest pattern wins ties
    return table[best].bool()


def _greedy(flat: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Per block: entries from the largest magnitude down, kept while their row and column
    hold fewer than ``n``."""
    order = torch.sort(-flat, dim=1, stable=True).indices
    keep = torch.zeros_like(flat, dtype=torch.bool)
    rows = torch.zeros(flat.shape[0], m, dtype=torch.int64)
    cols = torch.zeros(flat.shape[0], m, dtype=torch.int64)
    for step in range(m * m):
        at = order[:, step]
        r, c = at // m, at % m
        ok = (rows.gather(1, r[:, None])[:, 0] < n) & (cols.gather(1, c[:, None])[:, 0] < n)
        keep.scatter_(1, at[:, None], ok[:, None])
        rows.scatter_add_(1, r[:, None], ok[:, None].long())
        cols.scatter_add_(1, c[:, None], ok[:, None].long())
    return keep


def slope_bp_mask(weight: torch.Tensor, m_ff: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """SLoPe's BP mask: the FF-pruned weight ``W ⊙ M_ff`` pruned again to N:M along the
    output dimension (dim 0), kept only where FF kept (a group with fewer than ``n`` FF
    survivors keeps just those)."""
    check_nm(n, m)
    return nm_mask(weight.detach() * m_ff, n, m, dim=0) & m_ff
