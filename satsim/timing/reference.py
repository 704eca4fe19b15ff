"""Cycle-stepped reference model of the STCE (the oracle).

Advances an R x C PE array one clock at a time, with the registers, values, per-PE weight
index and M:1 operand mux described in ``docs/microarchitecture.md``. It is deliberately
plain: every register is an array, each cycle reads the current state and writes the next,
and every structural hazard (a register overwritten before it was used, a token meeting the
wrong tile) raises :class:`HazardError`. It is slow; use it for small shapes only.

Conventions: the op is ``C[M, N] = A[M, K] @ B[K, N]`` with ``B`` the weight operand; an N:M
``B`` is pruned (:mod:`satsim.functional.nm`) and compressed along K. The op starts at cycle 0
and takes ``cycles`` = one past the cycle in which its last result left the array.
Values: float64 by default; given an :class:`~satsim.functional.formats.Arithmetic`, operands
are rounded to its operand format and every product and sum (in the PEs and in the output
buffer's adder) to its accumulate format, in the order the registers see them.
Within a cycle the steps run in hardware order: issue, shift operands in, compute, then the
writes that take effect next cycle (output registers, weight loader).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from satsim.functional.formats import Arithmetic
from satsim.functional.nm import compress, group_vectors
from satsim.types import NMPattern, Stationarity


class HazardError(AssertionError):
    """The modelled hardware would have lost or mixed up data."""


@dataclass(frozen=True)
class ReferenceRun:
    """What the reference observed for one GEMM."""

    cycles: int
    output: np.ndarray  # C [M, N], float64 (accumulate-format values with an Arithmetic)
    fold_starts: tuple[int, ...]  # cycle in which each fold's first operand entered the array


@dataclass(frozen=True)
class _Operands:
    """Operands as the array sees them: B compressed to K' rows, A as group vectors."""

    b_val: np.ndarray  # [K', N]
    b_idx: np.ndarray  # [K', N] position inside the group: the PE's mux select
    a_vec: np.ndarray  # [M, G, w]; w = m when sparse, 1 when dense
    n: int  # compressed rows per group (1 when dense)

    @property
    def k_eff(self) -> int:
        return self.b_val.shape[0]

    def a_token(self, row: int, p: int) -> np.ndarray:
        """Group vector that output row ``row`` sends to compressed reduction row ``p``."""
        if row >= self.a_vec.shape[0] or p >= self.k_eff:
            return np.zeros(self.a_vec.shape[2])  # idle lanes of an edge tile carry zeros
        return self.a_vec[row, p // self.n]

    def b_token(self, p: int, col: int) -> tuple[float, int]:
        if p >= self.k_eff or col >= self.b_val.shape[1]:
            return 0.0, 0
        return float(self.b_val[p, col]), int(self.b_idx[p, col])


def run_reference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rows: int,
    cols: int,
    stationarity: Stationarity,
    interleave: bool,
    pattern: NMPattern | None = None,
    period_offset: int = 0,
    numerics: Arithmetic | None = None,
    initial: np.ndarray | None = None,
) -> ReferenceRun:
    """Simulate ``A @ B`` on the array, ``B`` pruned to ``pattern`` when one is given.

    ``period_offset`` is added to the interleaved issue period (OS: ``max(T, R)``; WS: the
    stream's ``T``, the loader handshake adds ``R`` and ``C``). It exists to prove that a wrong
    issue rule fails: wherever the shortened rule binds, the run raises :class:`HazardError`
    (a lane collision, an overwritten register, or the watchdog), never returns a count.

    ``numerics`` makes the values those of the modelled formats (see the module doc); without
    it they are float64. ``initial`` [M, N] is what the output buffer holds before the run
    (the partial sums of earlier K slices of a sliced schedule; default zeros): every result
    leaving the array is added to it. Cycles depend on neither.
    """
    if numerics is not None:
        a, b = numerics.operands(a), numerics.operands(b)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: A {a.shape}, B {b.shape}")
    if pattern is None:
        ops = _Operands(b, np.zeros(b.shape, dtype=np.int64), a[:, :, None], 1)
    else:
        values, index = compress(b, pattern)
        ops = _Operands(values, index, group_vectors(a, pattern.m), pattern.n)
    if stationarity is Stationarity.IS:
        raise ValueError("the STCE runs OS or WS; IS exists only in SCALE-Sim's conventions")
    model = _OutputStationary if stationarity is Stationarity.OS else _WeightStationary
    run = model(ops, a.shape[0], rows, cols, interleave, period_offset, numerics)
    if initial is not None:
        run.output[:] = initial
    return run.run()


@dataclass
class _Tokens:
    """A-operand registers moving right one PE per cycle."""

    rows: int
    cols: int
    width: int
    val: np.ndarray = field(init=False)
    ok: np.ndarray = field(init=False)
    fold: np.ndarray = field(init=False)
    step: np.ndarray = field(init=False)
    flag: np.ndarray = field(init=False)  # OS: last step of the fold; WS: first step

    def __post_init__(self) -> None:
        shape = (self.rows, self.cols)
        self.val = np.zeros((*shape, self.width))
        self.ok = np.zeros(shape, dtype=bool)
        self.fold = np.full(shape, -1)
        self.step = np.full(shape, -1)
        self.flag = np.zeros(shape, dtype=bool)

    def shift(self, edge: list) -> None:
        """Move every token one PE right; ``edge[r]`` enters row r (``None``: a bubble)."""
        for arr in (self.val, self.ok, self.fold, self.step, self.flag):
            arr[:, 1:] = arr[:, :-1].copy()
        for r, token in enumerate(edge):
            self.ok[r, 0] = token is not None
            if token is not None:
                self.val[r, 0], self.fold[r, 0], self.step[r, 0], self.flag[r, 0] = token


class _Array:
    """What both dataflows share: operands, output, fold starts, the skewed stream."""

    def __init__(self, ops: _Operands, m: int, rows: int, cols: int, interleave: bool,
                 period_offset: int = 0, numerics: Arithmetic | None = None):
        self.ops, self.m, self.rows, self.cols, self.interleave = ops, m, rows, cols, interleave
        self.period_offset, self.numerics = period_offset, numerics
        self.n_out = ops.b_val.shape[1]
        self.output = np.zeros((m, self.n_out))
        self.starts: list[int] = []
        self.last_output_cycle = -1
        self.a = _Tokens(rows, cols, ops.a_vec.shape[2])

    def stream_step(self, t: int, edge: int, length: int) -> tuple[int, int] | None:
        """(fold, step) entering lane ``edge`` in cycle ``t``: lane i lags the fold by i.

        A lane carries one operand per cycle: two folds due in the same lane and cycle would
        lose one of them, so that is a hazard.
        """
        hits = [(fold, t - start - edge) for fold, start in enumerate(self.starts)
                if 0 <= t - start - edge < length]
        if len(hits) > 1:
            raise HazardError(f"cycle {t}: folds {hits[0][0]} and {hits[1][0]} collide in "
                              f"stream lane {edge}")
        return hits[0] if hits else None

    def watchdog(self, t: int, folds: int, stream: int) -> None:
        """Fail fast if the run outlives twice its non-interleaved time (a stuck rule)."""
        limit = 2 * folds * (stream + self.rows + self.cols) + 16
        if t > limit:
            raise HazardError(f"watchdog: no progress after {limit} cycles "
                              f"({folds} folds of {stream})")

    def mac(self, acc: np.ndarray, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``acc + w·x`` as the PE computes it (float64, or in the modelled formats)."""
        if self.numerics is None:
            return acc + w * x
        return self.numerics.add(acc, self.numerics.mul(w, x)).astype(np.float64)

    def emit(self, t: int, row: int, col: int, value: float) -> None:
        """A result (or one K tile's partial sum) leaves the array in cycle ``t``."""
        if row < self.m and col < self.n_out:  # the output buffer's adder sums K tiles
            out = self.output[row, col]
            self.output[row, col] = out + value if self.numerics is None else float(
                self.numerics.add(out, value))
        self.last_output_cycle = max(self.last_output_cycle, t)

    def result(self) -> ReferenceRun:
        return ReferenceRun(self.last_output_cycle + 1, self.output, tuple(self.starts))


class _OutputStationary(_Array):
    """Each PE owns one output; A enters from the left, compressed B from the top.

    Fold (mb, nb) covers output rows ``mb*R ..`` and columns ``nb*C ..``; its T = K' steps
    enter row r (column c) in cycle ``s + k + r`` (``s + k + c``). The last step moves the
    finished sum into the PE's output register; each column's port reads one output register
    per cycle, lowest row first. The controller starts a fold every ``max(T, R)`` cycles
    (interleaved: a column's port needs R cycles per fold) or after a full read-out.
    """

    def run(self) -> ReferenceRun:
        ops, rows, cols, t_len = self.ops, self.rows, self.cols, self.ops.k_eff
        tiles = [(mb, nb) for mb in range(-(-self.m // rows))
                 for nb in range(-(-self.n_out // cols))]
        b_val, b_idx = np.zeros((rows, cols)), np.zeros((rows, cols), dtype=np.int64)
        b_ok, b_fold = np.zeros((rows, cols), dtype=bool), np.full((rows, cols), -1)
        acc, out = np.zeros((rows, cols)), np.zeros((rows, cols))
        out_ok, out_fold = np.zeros((rows, cols), dtype=bool), np.full((rows, cols), -1)
        read, total = 0, len(tiles) * rows * cols
        t = 0
        while read < total:
            self.watchdog(t, len(tiles), t_len)
            # Issue.
            f = len(self.starts)
            if f == 0:
                self.starts.append(t)
            elif f < len(tiles):
                due = self.starts[-1] + max(t_len, rows) + self.period_offset
                drained = read == f * rows * cols
                if (t == due) if self.interleave else drained:
                    self.starts.append(t)
            # Shift operands in: A right, B down.
            edge = []
            for r in range(rows):
                hit = self.stream_step(t, r, t_len)
                if hit is not None:
                    fold, k = hit
                    hit = (ops.a_token(tiles[fold][0] * rows + r, k), fold, k, k == t_len - 1)
                edge.append(hit)
            self.a.shift(edge)
            for arr in (b_val, b_idx, b_ok, b_fold):
                arr[1:] = arr[:-1].copy()
            for c in range(cols):
                hit = self.stream_step(t, c, t_len)
                b_ok[0, c] = hit is not None
                if hit is not None:
                    fold, k = hit
                    b_val[0, c], b_idx[0, c] = ops.b_token(k, tiles[fold][1] * cols + c)
                    b_fold[0, c] = fold
            # Compute: the mux picks the group element the compressed weight belongs to.
            a = self.a
            if np.any(a.ok != b_ok) or np.any(a.ok & (a.fold != b_fold)):
                raise HazardError(f"cycle {t}: A and B tokens out of step")
            r_idx, c_idx = np.nonzero(a.ok)
            acc[r_idx, c_idx] = self.mac(acc[r_idx, c_idx], b_val[r_idx, c_idx],
                                         a.val[r_idx, c_idx, b_idx[r_idx, c_idx]])
            # Output ports read, then finished sums move into the output registers.
            for c in range(cols):
                valid = np.nonzero(out_ok[:, c])[0]
                if valid.size:
                    r = valid[0]
                    mb, nb = tiles[out_fold[r, c]]
                    self.emit(t, mb * rows + r, nb * cols + c, out[r, c])
                    out_ok[r, c] = False
                    read += 1
            finishing = a.ok & a.flag
            if np.any(finishing & out_ok):
                raise HazardError(f"cycle {t}: output register overwritten before it was read")
            out[finishing], out_ok[finishing] = acc[finishing], True
            out_fold[finishing], acc[finishing] = a.fold[finishing], 0.0
            t += 1
        return self.result()


class _WeightStationary(_Array):
    """Each PE holds one compressed weight and its index; A streams in, sums flow down.

    Fold (nb, kb) holds compressed rows ``kb*R ..`` and columns ``nb*C ..``. A loader writes
    the next tile into the PEs' shadow registers, one array row per cycle, once every PE of
    that row has taken the current tile; the first A token of a fold swaps shadow into
    active as it passes. A row i enters array row r in cycle ``s + i + r``; PE (R-1, c) emits
    the partial sum. A fold starts when the stream is free and array row 0 holds its tile;
    without interleaving, a tile loads only after the previous fold has drained.
    """

    def run(self) -> ReferenceRun:
        ops, rows, cols, t_len = self.ops, self.rows, self.cols, self.m
        k_tiles = -(-ops.k_eff // rows)
        tiles = [(nb, kb) for nb in range(-(-self.n_out // cols)) for kb in range(k_tiles)]
        act_val, act_idx = np.zeros((rows, cols)), np.zeros((rows, cols), dtype=np.int64)
        act_fold = np.full((rows, cols), -1)
        sh_val, sh_idx = np.zeros((rows, cols)), np.zeros((rows, cols), dtype=np.int64)
        sh_fold = np.full((rows, cols), -1)
        sh_taken = np.ones((rows, cols), dtype=bool)  # an empty shadow counts as taken
        ps_val, ps_ok = np.zeros((rows, cols)), np.zeros((rows, cols), dtype=bool)
        ps_tag = np.full((rows, cols, 2), -1)  # (fold, step) of each partial sum
        load_fold = load_row = 0
        emitted, total = 0, len(tiles) * t_len * cols
        t = 0
        while emitted < total:
            self.watchdog(t, len(tiles), t_len)
            # Issue.
            f = len(self.starts)
            if f < len(tiles):
                free = 0 if f == 0 else self.starts[-1] + t_len + self.period_offset
                if t >= free and np.all(sh_fold[0] == f) and not np.any(sh_taken[0]):
                    self.starts.append(t)
            # Shift A in.
            edge = []
            for r in range(rows):
                hit = self.stream_step(t, r, t_len)
                if hit is not None:
                    fold, i = hit
                    hit = (ops.a_token(i, tiles[fold][1] * rows + r), fold, i, i == 0)
                edge.append(hit)
            self.a.shift(edge)
            load_open = self.interleave or load_fold == 0 or load_row > 0 or (
                len(self.starts) == load_fold and emitted == load_fold * t_len * cols)
            # Compute, PE by PE: partial sums from the PE above arrive with the A token.
            a = self.a
            new_val, new_ok = np.zeros((rows, cols)), np.zeros((rows, cols), dtype=bool)
            new_tag = np.full((rows, cols, 2), -1)
            for r, c in zip(*np.nonzero(a.ok), strict=True):
                fold, step = a.fold[r, c], a.step[r, c]
                if a.flag[r, c]:
                    if sh_fold[r, c] != fold or sh_taken[r, c]:
                        raise HazardError(f"cycle {t}: PE({r},{c}) found no tile for fold {fold}")
                    act_val[r, c], act_idx[r, c] = sh_val[r, c], sh_idx[r, c]
                    act_fold[r, c], sh_taken[r, c] = fold, True
                elif act_fold[r, c] != fold:
                    raise HazardError(f"cycle {t}: PE({r},{c}) holds the wrong tile")
                psum = 0.0
                if r > 0:
                    if not (ps_ok[r - 1, c] and tuple(ps_tag[r - 1, c]) == (fold, step)):
                        raise HazardError(f"cycle {t}: PE({r},{c}) lost its partial sum")
                    psum = ps_val[r - 1, c]
                psum = float(self.mac(np.float64(psum), act_val[r, c],
                                      a.val[r, c, act_idx[r, c]]))
                if r == rows - 1:
                    self.emit(t, step, tiles[fold][0] * cols + c, psum)
                    emitted += 1
                else:
                    new_val[r, c], new_ok[r, c], new_tag[r, c] = psum, True, (fold, step)
            ps_val, ps_ok, ps_tag = new_val, new_ok, new_tag
            # Loader: a swap in this very cycle frees the shadow (read before written).
            if load_open and load_fold < len(tiles) and np.all(sh_taken[load_row]):
                nb, kb = tiles[load_fold]
                for c in range(cols):
                    sh_val[load_row, c], sh_idx[load_row, c] = ops.b_token(
                        kb * rows + load_row, nb * cols + c)
                sh_fold[load_row], sh_taken[load_row] = load_fold, False
                load_row += 1
                if load_row == rows:
                    load_fold, load_row = load_fold + 1, 0
            t += 1
        return self.result()
