"""The tensor graph of a re-annotated trace: the mask generation and compressed weights its
N:M layers need, exactly as a capture of that method records them.

Re-annotating a trace (``--method`` / ``--sparsity``, a sparse run's dense twin) changes which
GEMMs run N:M. On the whole machine that changes more than their MACs: an N:M layer's GEMMs
read its compressed values and index (fewer bytes), which the SORE generates from the dense
weight; a dense layer's GEMMs read the dense weight and nothing generates masks. So the graph
is rebuilt in two steps:

1. **dense**: drop every ``maskgen`` record and let each reader of its compressed values and
   index read the weight they came from, in the format the GEMM ran in (the master, or the
   low-precision copy the update writes); drop the SR-STE decay (the ``add`` after a pruned
   layer's WG GEMM, ``dW + lam * W`` on the pruned weights) and let the update read the WG
   GEMM's gradient;
2. **N:M**: for every layer with an N:M GEMM, before its first FF or BP weight GEMM, generate
   its compressed forms as the capture does (``FF`` and ``BP`` for bdwp, ``FF`` for srste,
   grouped along C_in / in for FF and C_out / out for BP), and let its FF and BP GEMMs read them
   (SR-STE's BP GEMM reads the FF form, and runs dense); after its WG GEMM (or the cast of its
   result), add the decay.

With micro-batches, each micro-batch's WG GEMM gets its decay, and the in-place adds that
accumulate the later micro-batches' gradients into the first one's follow it to its new tensor.

On the shipped captures, re-annotating a dense capture gives the sparse capture's records
and tensors (ids aside), and densifying a sparse capture gives the dense one (tested).
"""

from __future__ import annotations

import math

from satsim.errors import SatsimError
from satsim.trace.schema import (
    MAX_DIM,
    GemmOp,
    MaskGenOp,
    Role,
    TensorInfo,
    UpdateOp,
    VectorOp,
    compressed_shape,
    index_dtype,
    storage_bytes,
)
from satsim.types import Method, NMPattern, Phase


class _Table:
    """The tensor table being rebuilt: new ids after the largest one."""

    def __init__(self, tensors):
        self.info = {t.id: t for t in tensors}
        self.next = max(self.info, default=-1) + 1
        self.copies: dict[int, int] = {}  # new low-precision copy -> the parameter it copies

    def add(self, **fields) -> int:
        tid, self.next = self.next, self.next + 1
        self.info[tid] = TensorInfo(id=tid, **fields)
        return tid

    def copy_of(self, param: int, dtype: str) -> int:
        """``param`` as a GEMM reading it in ``dtype`` reads it."""
        p = self.info[param]
        if p.dtype == dtype:
            return param
        found = next((t.id for t in self.info.values() if t.of == param and
                      t.role is Role.PARAMETER and t.dtype == dtype), None)
        if found is None:  # the update writes the copy GEMMs read (as captures record it)
            found = self.add(shape=p.shape, dtype=dtype, bytes=storage_bytes(p.shape, dtype),
                             role=Role.PARAMETER, layer=p.layer, name=f"{p.name}:{dtype}",
                             of=param)
            self.copies[found] = param
        return found

    def master(self, tid: int) -> int:
        t = self.info[tid]
        return t.of if t.role is Role.PARAMETER and t.of is not None else tid


def _swap(ids: tuple[int, ...], old: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
    """``ids`` with each key of ``old`` replaced by its tensors (each tensor once)."""
    return tuple(dict.fromkeys(n for t in ids for n in old.get(t, (t,))))


def _weight_field(op: GemmOp) -> str:
    return "b" if op.weight == "B" else "a"


def rewire(records: tuple, tensors: tuple[TensorInfo, ...], method: Method,
           pattern: NMPattern | None) -> tuple[tuple, tuple[TensorInfo, ...]]:
    """Records and tensor table of a trace whose GEMMs ``records`` annotate (see module).
    Without a tensor table (trace v1, imports) only the maskgen records change."""
    if not tensors:
        return _chain(records, method, pattern), tensors
    table = _Table(tensors)
    # 1. dense: no mask generation, GEMMs read their dense weights.
    dense: dict[int, tuple[int, ...]] = {}
    for r in records:
        if isinstance(r, MaskGenOp):
            values = next(t for t in r.writes if table.info[t].role is Role.COMPRESSED)
            weight = (table.copy_of(r.reads[0], table.info[values].dtype),)
            dense |= dict.fromkeys(r.writes, weight)
    out = []
    for r in records:
        if isinstance(r, MaskGenOp):
            continue
        if _is_decay(r, table):  # its result is the WG GEMM's gradient, now the parameter's
            (grad, _), (decayed,) = r.reads, r.writes
            table.info[grad] = table.info[grad].model_copy(update={"of": table.info[decayed].of})
            del table.info[decayed]
            dense[decayed] = (grad,)
            continue
        # Writes too: with micro-batches, the gradients add up in the first one's tensor.
        update = {"reads": _swap(r.reads, dense), "writes": _swap(r.writes, dense)}
        if isinstance(r, GemmOp) and r.weight is not None:
            update[_weight_field(r)] = _swap(getattr(r, _weight_field(r)), dense)
        if isinstance(r, UpdateOp):
            update["writes"] = r.writes + tuple(
                c for c, p in table.copies.items() if p in r.writes and c not in r.writes)
        out.append(r.model_copy(update=update))
    # 2. N:M: compressed forms generated before a pruned layer's first weight GEMM.
    pruned = {r.layer for r in out if isinstance(r, GemmOp) and r.sparsity is not None}
    directions = ("FF", "BP") if method is Method.BDWP else ("FF",)
    packed: dict[tuple[int, str], tuple[int, ...]] = {}
    final, decayed, pending = [], {}, []
    for r in out:
        # The decay follows the WG GEMM, and a convolution's bias gradient (as captured).
        if pending and not (isinstance(r, VectorOp) and r.op == "bias_grad"
                            and r.layer == pending[0].layer):
            final += pending
            pending = []
        if decayed:
            r = r.model_copy(update={"reads": _swap(r.reads, decayed),
                                     "writes": _swap(r.writes, decayed)})
        if (isinstance(r, GemmOp) and r.layer in pruned and r.weight is not None
                and r.phase in (Phase.FF, Phase.BP)):
            field = _weight_field(r)
            (weight,) = getattr(r, field)
            param = table.master(weight)
            if (param, "FF") not in packed:
                final += _generate(table, param, table.info[weight].dtype, pattern,
                                   directions, packed)
            use = "BP" if r.phase is Phase.BP and method is Method.BDWP else "FF"
            swap = {weight: packed[param, use]}
            r = r.model_copy(update={field: packed[param, use], "reads": _swap(r.reads, swap)})
        final.append(r)
        if r.layer in pruned and getattr(r, "phase", None) is Phase.WG:
            pending += _decay(table, r, {param for param, _ in packed}, decayed)
    final += pending
    # A low-precision copy no GEMM reads any more (its layer reads compressed forms) is not
    # written either; nor are compressed forms kept that nothing reads.
    read = {t for r in final for t in r.reads}
    unused = {t.id for t in table.info.values() if t.id not in read and (
        t.role in (Role.COMPRESSED, Role.INDEX) or (t.role is Role.PARAMETER and t.of is not None))}
    if unused:
        final = [r.model_copy(update={"writes": tuple(t for t in r.writes if t not in unused)})
                 if unused.intersection(r.writes) else r for r in final]
    kept = sorted((t for t in table.info.values() if t.id not in unused), key=lambda t: t.id)
    return tuple(final), tuple(kept)


def _is_decay(r, table: _Table) -> bool:
    """The SR-STE decay of a capture: a WG ``add`` of a weight gradient and its parameter
    into the parameter's gradient."""
    if not (isinstance(r, VectorOp) and r.phase is Phase.WG and r.op == "add"
            and len(r.reads) == 2 and len(r.writes) == 1):
        return False
    grad, param = (table.info.get(t) for t in r.reads)
    out = table.info.get(r.writes[0])
    if grad is None or param is None or out is None:  # reads a decay's result (micro-batches:
        return False  # the accumulation of a later micro-batch's gradient)
    return (grad.role is Role.WEIGHT_GRADIENT and grad.of is None
            and param.role is Role.PARAMETER and param.of is None
            and out.role is Role.WEIGHT_GRADIENT and out.of == param.id)


def _decay(table: _Table, wg, params: set[int], decayed: dict) -> list[VectorOp]:
    """The decay after the WG record that writes a pruned weight's gradient (its WG GEMM,
    or the cast of its result in mixed precision)."""
    made = []
    for c in wg.writes:
        grad = table.info[c]
        if grad.role is not Role.WEIGHT_GRADIENT or grad.of not in params or c in wg.reads:
            continue  # (reads it: a micro-batch's gradient added to decayed ones)
        table.info[c] = grad.model_copy(update={"of": None})
        new = table.add(**grad.model_dump(exclude={"id", "kind"}))
        decayed[c] = (new,)
        made.append(VectorOp(phase=Phase.WG, layer=wg.layer, op="add", elements=grad.numel,
                             reads=(c, grad.of), writes=(new,)))
    return made


def _generate(table: _Table, param: int, dtype: str, nm: NMPattern, directions,
              packed: dict) -> list[MaskGenOp]:
    """The maskgen records writing ``param``'s compressed forms (values in ``dtype``)."""
    p, made = table.info[param], []
    for d in directions:
        shape = compressed_shape(p.shape, d, nm)
        ids = tuple(table.add(shape=shape, dtype=kind, bytes=storage_bytes(shape, kind),
                              role=role, layer=p.layer, name=f"{p.name}:{d}{suffix}",
                              of=param, nm=nm)
                    for kind, role, suffix in ((dtype, Role.COMPRESSED, ""),
                                               (index_dtype(nm.m), Role.INDEX, ".index")))
        packed[param, d] = ids
        made.append(MaskGenOp(layer=p.layer, elements=math.prod(p.shape), sparsity=nm,
                              direction=d, reads=(param,), writes=ids))
    return made


def _chain(records: tuple, method: Method, pattern: NMPattern | None) -> tuple:
    """The same for records without tensors: maskgen records before pruned layers."""
    pruned = {r.layer for r in records if isinstance(r, GemmOp) and r.sparsity is not None}
    directions = ("FF", "BP") if method is Method.BDWP else ("FF",)
    done, final = set(), []
    for r in records:
        if isinstance(r, MaskGenOp):
            continue
        if (isinstance(r, GemmOp) and r.layer in pruned and r.weight is not None
                and r.phase in (Phase.FF, Phase.BP) and r.layer not in done):
            done.add(r.layer)
            # A weight GEMM's weight has K x N elements (K x N of the dense GEMM's B).
            elements = r.K * (r.N if r.weight == "B" else r.M)
            if elements > MAX_DIM:
                raise SatsimError(f"its weight's {elements:,} elements are more than a "
                                  f"maskgen record's {MAX_DIM:,}: it cannot be N:M",
                                  source=f"layer {r.layer}", field="sparsity")
            final += [MaskGenOp(layer=r.layer, elements=elements, sparsity=pattern,
                                direction=d) for d in directions]
        final.append(r)
    return tuple(final)
