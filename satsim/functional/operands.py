"""A dumped layer's tensors as the GEMM operands the datapath takes: lowered as the trace's
record says, checked against its shapes, and the weight stored as the hardware stores it."""

from __future__ import annotations

import numpy as np

from satsim.errors import SatsimError
from satsim.functional import im2col
from satsim.functional.datapath import StoredWeight
from satsim.functional.dump import Dump
from satsim.functional.nm import groups
from satsim.trace.schema import GemmOp, Trace
from satsim.types import NMPattern, Phase

# Dumped names of a conv's operands and result per phase (a linear op: a, b, c).
_CONV_KEYS = {Phase.FF: ("x", "w", "y"), Phase.BP: ("dy", "w", "dx"), Phase.WG: ("dy", "x", "dw")}


def finite(x: np.ndarray, dump: Dump, key: str) -> None:
    """Rejects an operand with NaN or inf elements."""
    bad = ~np.isfinite(x)
    if bad.any():
        raise SatsimError(
            f"{int(bad.sum())} NaN/inf operand elements: the sparse datapath never multiplies "
            "a pruned weight (no 0·inf), while torch's dense W⊙mask product gives NaN there, "
            "so this step cannot be compared", source=dump.path, field=key)


class Layer:
    """One layer's dumped tensors and trace records."""

    def __init__(self, name: str, trace: Trace, dump: Dump):
        self.name, self.dump = name, dump
        self.ops = {r.phase: (i, r) for i, r in enumerate(trace.records)
                    if isinstance(r, GemmOp) and r.layer == name}

    def key(self, phase: Phase, name: str) -> str:
        return f"{self.name}/{phase}/{name}"

    def operands(self, phase: Phase, op: GemmOp):
        """GEMM operands A [M, K], B [K, N] (weight as B), torch's C, bias, B's mask."""
        dump, conv = self.dump, op.conv
        mask = None
        if conv is not None:
            names = _CONV_KEYS[phase]
            keys = [self.key(phase, n) for n in names]
            first, second, result = (dump.tensor(k) for k in keys)
            finite(first, dump, keys[0])
            finite(second, dump, keys[1])
            self._check_shape(first, keys[0], op)
            if phase is Phase.FF:
                a, b = im2col.ff_operands(first, second, conv)
                c = result.transpose(0, 2, 3, 1).reshape(a.shape[0], -1)
            elif phase is Phase.BP:
                a, b = im2col.bp_operands(first, second, conv)
                c = result.transpose(0, 2, 3, 1).reshape(a.shape[0], -1)
            else:
                a, b = im2col.wg_operands(first, second, conv)
                c = result.transpose(0, 2, 3, 1).reshape(a.shape[0], -1)
            if op.sparsity is not None:
                direction = "FF" if phase is Phase.FF else "BP"
                raw = dump.mask(self.name, direction)
                mask = im2col.ff_weight(raw) if phase is Phase.FF else im2col.bp_weight(raw)
        else:
            keys = [self.key(phase, n) for n in ("a", "b", "c")]
            a, b, c = (dump.tensor(k) for k in keys)
            finite(a, dump, keys[0])
            finite(b, dump, keys[1])
            if op.weight == "A":  # run transposed: the weight is operand B
                a, b, c = b.T, a.T, c.T
                keys = [keys[1], keys[0], keys[2]]
            if op.sparsity is not None:
                raw = dump.mask(self.name, "FF" if phase is Phase.FF else "BP")
                mask = raw.T if raw.shape != b.shape or phase is Phase.FF else raw
        for x, key, want in ((a, keys[0], (op.M, op.K)), (b, keys[1], (op.K, op.N))):
            if op.weight == "A":
                want = (op.N, op.K) if x is a else (op.K, op.M)
            if x.shape != want:
                raise SatsimError(f"shape {list(x.shape)} as a GEMM operand does not match the "
                                  f"trace's record ({list(want)})", source=dump.path, field=key)
        if c.shape != (a.shape[0], b.shape[1]):
            raise SatsimError(f"result shape does not match the operands ({a.shape[0]} x "
                              f"{b.shape[1]})", source=dump.path, field=keys[2])
        if mask is not None and mask.shape != b.shape:
            raise SatsimError(f"mask shape does not match the weight {list(b.shape)}",
                              source=dump.path, field=f"{self.name}/mask")
        bias = None
        if op.bias or op.conv is not None and dump.has(self.key(phase, "bias")):
            bias = dump.tensor(self.key(phase, "bias")).reshape(-1)
        return a, b, c, bias, mask, keys

    def _check_shape(self, x: np.ndarray, key: str, op: GemmOp) -> None:
        conv = op.conv
        if x.ndim != 4 or x.shape[0] != conv.batch:
            raise SatsimError(f"shape {list(x.shape)} does not match the trace's convolution "
                              f"(batch {conv.batch})", source=self.dump.path, field=key)


def store(b: np.ndarray, mask: np.ndarray, op_pattern: NMPattern, claim: NMPattern,
          dump: Dump, key: str) -> StoredWeight:
    """B [K, N] stored as the hardware stores it: per group the kept positions from the mask
    (non-zero weights first), values and in-group indices. Rejects a mask that is not N:M and
    a weight that is not pruned by it."""
    k, n_cols = b.shape
    m = op_pattern.m
    bg, mg = groups(b, m), groups(mask, m)  # zero-padded: padding is not kept
    g = bg.shape[0]
    over = mg.sum(axis=1) > claim.n
    if over.any():
        raise SatsimError(f"the mask is not {claim}: {int(over.sum())} groups of {m} keep more "
                          f"than {claim.n}", source=dump.path, field=key)
    outside = (bg != 0) & ~mg
    if outside.any():
        raise SatsimError(f"a dense operand given to a {op_pattern} sparse mapping: "
                          f"{int(outside.sum())} non-zero weights lie outside the mask",
                          source=dump.path, field=key)
    pos = np.arange(m)[None, :, None]
    rank = (bg == 0) * 2 * m + (~mg) * m + pos  # non-zero, then masked, then lower index
    ranked = np.argsort(rank, axis=1, kind="stable")
    kept = np.sort(ranked[:, : op_pattern.n, :], axis=1)
    if np.take_along_axis(bg != 0, ranked, axis=1)[:, op_pattern.n:, :].any():
        raise SatsimError(f"a dense operand given to a {op_pattern} sparse mapping: groups "
                          f"hold more than {op_pattern.n} non-zeros", source=dump.path, field=key)
    values = np.take_along_axis(bg, kept, axis=1).reshape(g * op_pattern.n, n_cols)
    return StoredWeight(values, kept.reshape(g * op_pattern.n, n_cols).astype(np.uint8),
                        op_pattern, k)

