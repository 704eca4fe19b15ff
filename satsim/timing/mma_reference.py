"""Cycle-stepped reference model of the MMA unit (the oracle of :mod:`satsim.machine.mma`).

Advances the unit one clock at a time. An issue port takes the next fragment once
``cycles_per_issue`` cycles have passed since the last issue (and, with pipelining off, once
the pipeline is empty); a fragment then moves through ``latency_cycles`` stage registers, one
a cycle, and on leaving the last one adds its products into the accumulators of its output
fragment. Fragments are issued in order: batch instance, then output fragment (rows, then
columns), the reduction innermost.

Values: each fragment's products are computed from what it was issued with: ``k`` compressed
weights per output column (the weight operand is B, pruned to its N:M pattern and compressed
along K, :mod:`satsim.functional.nm`) and, for each of them, the activation its metadata
selects from its group. Float64, small shapes only: it is deliberately plain and slow. A run
that stops retiring fragments raises :class:`satsim.timing.reference.HazardError`.

Conventions: ``C[M, N] = A[M, K] @ B[K, N]`` per batch instance; the run starts at cycle 0
and takes ``cycles`` = one past the cycle in which the last fragment left the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from satsim.functional.nm import compress
from satsim.timing.reference import HazardError
from satsim.types import NMPattern


@dataclass(frozen=True)
class MmaRun:
    """What the reference observed for one batch of GEMMs."""

    cycles: int
    output: np.ndarray  # C [batch, M, N], float64
    issue_cycles: tuple[int, ...]  # the cycle each fragment was issued in


@dataclass(frozen=True)
class _Fragment:
    g: int  # batch instance
    rows: slice
    cols: slice
    products: np.ndarray  # [rows, cols]: the fragment's sum of k products per output


def _fragments(a: np.ndarray, b: np.ndarray, shape: tuple[int, int, int],
               pattern: NMPattern | None) -> list[_Fragment]:
    """Every fragment of the run, in issue order, with the products it computes."""
    m, n, k = shape
    found = []
    for g in range(a.shape[0]):
        if pattern is None:
            values, index, width = b[g], np.zeros(b[g].shape, dtype=np.int64), 1
        else:
            values, index = compress(b[g], pattern)
            width = pattern.m
        slots, rows_total, cols_total = values.shape[0], a.shape[1], b.shape[2]
        per_group = 1 if pattern is None else pattern.n
        # The activation each compressed weight multiplies: its group's, at its metadata.
        dense = (np.arange(slots)[:, None] // per_group) * width + index  # [K', N]
        padded = np.zeros((rows_total, a.shape[2] + width))
        padded[:, :a.shape[2]] = a[g]
        selected = padded[:, dense]  # [M, K', N]
        for i in range(0, rows_total, m):
            for j in range(0, cols_total, n):
                for q in range(0, slots, k):
                    rows, cols, reduce = slice(i, i + m), slice(j, j + n), slice(q, q + k)
                    products = np.einsum("rpc,pc->rc", selected[rows, reduce, cols],
                                         values[reduce, cols])
                    found.append(_Fragment(g, rows, cols, products))
    return found


def run_mma_reference(a: np.ndarray, b: np.ndarray, *, m: int, n: int, k: int,
                      cycles_per_issue: int, latency_cycles: int, pipelined: bool,
                      pattern: NMPattern | None = None) -> MmaRun:
    """Simulate ``A @ B`` (``[batch, M, K] @ [batch, K, N]``, or one 2-D pair) on an MMA unit
    of ``m x n x k`` fragments, ``B`` pruned to ``pattern`` when one is given."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"shapes differ: A {a.shape}, B {b.shape}")
    if latency_cycles < cycles_per_issue or cycles_per_issue < 1:
        raise ValueError("needs 1 <= cycles_per_issue <= latency_cycles")
    queue = _fragments(a, b, (m, n, k), pattern)
    output = np.zeros((a.shape[0], a.shape[1], b.shape[2]))
    stages: list[_Fragment | None] = [None] * latency_cycles
    issued: list[int] = []
    retired, t, last_out = 0, 0, -1
    limit = len(queue) * latency_cycles + 1  # the slowest legal run
    while retired < len(queue):
        if t > limit:
            raise HazardError(f"watchdog: {retired} of {len(queue)} fragments out at {t}")
        # Issue, at the start of the cycle.
        ready = not issued or t - issued[-1] >= cycles_per_issue
        empty = all(stage is None for stage in stages)
        if len(issued) < len(queue) and ready and (pipelined or empty):
            stages[0] = queue[len(issued)]
            issued.append(t)
        # End of the cycle: the last stage's fragment adds its products into its
        # accumulators; the others move one stage on.
        leaving = stages[-1]
        if leaving is not None:
            output[leaving.g, leaving.rows, leaving.cols] += leaving.products
            retired += 1
            last_out = t
        stages = [None, *stages[:-1]]
        t += 1
    return MmaRun(last_out + 1, output, tuple(issued))
