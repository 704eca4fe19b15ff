"""The tracer's tensor table: which graph tensor each storage of the recorded step holds.

Tensors are storages: views, reshapes and transposes resolve to the storage they alias, an
in-place op writes a new version of the same tensor. Storages are tracked through weak
references, so an id is never reused while the step runs. Parameters, buffers and whatever is
computed from them only (``W * mask``, the low-precision cast) are weight-side: the table keeps
the parameters each such storage comes from, so a GEMM's weight operand resolves to the
parameter, or its low-precision copy under autocast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.multiprocessing.reductions import StorageWeakRef

from satsim.trace.schema import Role, TensorInfo, storage_bytes
from satsim.types import NMPattern, Phase


def dtype_name(t: torch.Tensor | torch.dtype) -> str:
    """The dtype without its ``torch.`` prefix (``float32``)."""
    return str(t if isinstance(t, torch.dtype) else t.dtype).removeprefix("torch.")


@dataclass
class TrackedTensor:
    """What the recorder knows of one storage while the step runs."""

    shape: tuple[int, ...]
    dtype: str
    bytes: int
    role: Role | None = None  # fixed for state and derived weights; else decided at the end
    layer: str | None = None
    name: str | None = None
    of: int | None = None
    nm: NMPattern | None = None
    view_of: int | None = None  # a part of another tensor, read as such
    written: Phase | None = None  # FF or BP: the pass of its first write
    saved: bool = False  # kept by autograd for the backward pass


class TensorTable:
    """The graph tensors of one step; a tensor's id is its index in ``tensors``."""

    def __init__(self) -> None:
        self.tensors: list[TrackedTensor] = []
        self._ids: dict[int, tuple[StorageWeakRef, int]] = {}  # storage -> tensor id
        # Weight-side storages -> the parameters (tensor ids) they are computed from.
        self._weighty: dict[int, tuple[StorageWeakRef, frozenset[int]]] = {}
        self._views: dict[tuple, int] = {}  # (base id, offset, shape, stride) -> view's id
        self.copies: dict[tuple[int, str], int] = {}  # (param id, dtype) -> copy's id

    @staticmethod
    def key(t: torch.Tensor) -> int:
        # The storage's identity: shared by views, valid for fake tensors (no data).
        return t.untyped_storage()._cdata

    def new(self, info: TrackedTensor) -> int:
        self.tensors.append(info)
        return len(self.tensors) - 1

    def _lookup(self, table: dict, t: torch.Tensor):
        entry = table.get(self.key(t))
        return None if entry is None or entry[0].expired() else entry[1]

    def lookup(self, t: torch.Tensor) -> int | None:
        """The tensor ``t``'s storage holds, if the table has seen it."""
        return self._lookup(self._ids, t)

    def _info(self, t: torch.Tensor, **facts) -> TrackedTensor:
        storage = t.untyped_storage()
        whole = t.numel() * t.element_size() == storage.nbytes()
        shape = tuple(t.shape) if whole else (storage.nbytes() // t.element_size(),)
        return TrackedTensor(shape=shape, dtype=dtype_name(t), bytes=storage.nbytes(), **facts)

    def add_state(self, t: torch.Tensor, name: str) -> int:
        """A parameter or buffer called ``name``: a weight-side tensor of its own."""
        tid = self.new(self._info(t, role=Role.PARAMETER, name=name,
                                  layer=name.rpartition(".")[0] or name))
        ref = StorageWeakRef(t.untyped_storage())
        self._ids[self.key(t)] = (ref, tid)
        self._weighty[self.key(t)] = (ref, frozenset({tid}))
        return tid

    def add_weight_side(self, t: torch.Tensor, sources: frozenset[int]) -> None:
        """``t`` is computed from the parameters ``sources`` only (masks, W * mask, casts)."""
        self._weighty[self.key(t)] = (StorageWeakRef(t.untyped_storage()), sources)

    def id_of(self, t: torch.Tensor, layer: str | None, phase: Phase | None) -> int:
        """The tensor ``t``'s storage holds; a storage seen first here is a new tensor."""
        tid = self.lookup(t)
        if tid is None:
            tid = self.new(self._info(t, layer=layer))
            self._ids[self.key(t)] = (StorageWeakRef(t.untyped_storage()), tid)
        if phase is not None and self.tensors[tid].written is None:
            self.tensors[tid].written = phase
        return tid

    def sources(self, t: object) -> frozenset[int] | None:
        """The parameters a weight-side tensor is computed from (``None``: not weight-side)."""
        return self._lookup(self._weighty, t) if isinstance(t, torch.Tensor) else None

    def weight_ids(self, t: torch.Tensor) -> list[int]:
        """Graph tensors a weight-side operand stands for: a parameter or buffer itself, else
        the parameters it is computed from (their low-precision copies if it was cast)."""
        own = self.lookup(t)
        if own is not None:
            return [own]
        ids = []
        for source in sorted(self.sources(t)):
            ids.append(source if self.tensors[source].dtype == dtype_name(t)
                       else self._copy(source, dtype_name(t)))
        return ids

    def _copy(self, param: int, dtype: str) -> int:
        """The low-precision copy of ``param`` the step keeps (the update writes it)."""
        if (param, dtype) not in self.copies:
            p = self.tensors[param]
            self.copies[param, dtype] = self.new(TrackedTensor(
                shape=p.shape, dtype=dtype, bytes=storage_bytes(p.shape, dtype),
                role=Role.PARAMETER, layer=p.layer, name=f"{p.name}:{dtype}", of=param))
        return self.copies[param, dtype]

    def read(self, t: torch.Tensor) -> tuple[int, ...]:
        """Graph tensors reading ``t`` means: its storage's, or a view entry for a part of it
        (``x[:, 0]``), so that a record's reads have the bytes it reads."""
        if self.sources(t) is not None:
            return tuple(self.weight_ids(t))
        base = self.id_of(t, None, None)
        if t.storage_offset() == 0 and t.numel() * t.element_size() >= self.tensors[base].bytes:
            return (base,)
        key = (base, t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key not in self._views:
            self._views[key] = self.new(TrackedTensor(
                shape=tuple(t.shape), dtype=dtype_name(t), bytes=t.numel() * t.element_size(),
                view_of=base))
        return (self._views[key],)

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        """Saved-tensor hook: mark what autograd keeps for the backward pass."""
        tid = self.lookup(t)
        if tid is not None:
            self.tensors[tid].saved = True
        return t

    def infos(self, records: list, losses: set[int], wg: set[int]) -> list[TensorInfo]:
        """Settle the roles still open and list the tensors ``records`` use (``losses``: the
        losses' ids, one per micro-batch; ``wg``: the weight gradients' ids)."""
        for tid, t in enumerate(self.tensors):
            if t.role is None and t.view_of is None:
                t.role = _role(t, tid in losses, tid in wg)
        used = {tid for r in records for tid in (*r.reads, *r.writes)}
        # Views name their base; copies and compressed forms their parameter (a constant
        # buffer read only through its low-precision cast is listed all the same).
        used |= {ref for tid, t in enumerate(self.tensors) if tid in used
                 for ref in (t.view_of, t.of)} - {None}
        infos = []
        for tid, t in enumerate(self.tensors):
            if tid not in used:  # state no record touches (e.g. batch-norm's step counter)
                continue
            if t.view_of is not None:
                base = self.tensors[t.view_of]
                t.role, t.layer = base.role, base.layer
            infos.append(TensorInfo(
                id=tid, shape=t.shape, dtype=t.dtype, bytes=t.bytes, role=t.role,
                layer=t.layer or None, name=t.name, of=t.of, nm=t.nm, view_of=t.view_of))
        return infos


def _role(t: TrackedTensor, is_loss: bool, wg: bool) -> Role:
    if t.written is None:
        return Role.INPUT
    if is_loss:
        return Role.LOSS
    if t.dtype.startswith(("int", "uint", "bool")):
        return Role.MASK
    if t.written is Phase.FF:
        return Role.SAVED if t.saved else Role.ACTIVATION
    return Role.WEIGHT_GRADIENT if wg else Role.GRADIENT
