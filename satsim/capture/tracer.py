"""Record one training iteration as a tensor dataflow graph with a ``TorchDispatchMode``.

The mode sits below autograd, so it sees every aten op of the forward and of the backward:

* **Tensors** are storages: views, reshapes and transposes resolve to the storage they alias
  (an op that only aliases is not a record), an in-place op writes a new version of the same
  tensor. Storages are tracked through weak references, so an id is never reused while the
  step runs. Autograd's saved-tensor hooks tell which FF tensors are kept for the backward.
* **Phase.** Ops run outside the autograd engine are FF. ``convolution_backward`` is BP when it
  computes the input gradient and WG when it computes the weight gradient (both when both). A
  backward mm/bmm with an operand derived only from weights is BP; one whose output has a
  parameter's shape (and no weight operand) is WG; any other backward GEMM (attention) is BP.
* **Layer.** Module pre/post forward hooks record the autograd sequence numbers created inside
  each module; a backward op belongs to the innermost module whose range holds its node's
  number, a forward op to the innermost module running.
* **Weights.** Parameters, buffers and whatever is computed from them only (``W * mask``, the
  low-precision cast) are weight-side work, not datapath ops. A GEMM's weight operand resolves
  to the graph's weight tensor: the compressed values and index of its N:M form when the layer
  is sparse (written by a ``maskgen`` record, emitted at the layer's first FF GEMM), else the
  parameter, or its low-precision copy under autocast (which the update writes).
* **Measured structure.** For each weight operand the tracer counts the largest number of
  non-zeros in any group of m along the GEMM's reduction dimension; the op is N:M only if that
  count is at most the method's n.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_leaves

from satsim.trace.schema import (
    ConvParams,
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
from satsim.types import NMPattern, Phase

aten = torch.ops.aten

_GEMMS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
# Record names for the aten ops a training accelerator's vector unit runs; any other op is
# recorded under its own name.
_VECTOR = {
    "relu": "relu", "threshold_backward": "relu", "gelu": "gelu", "gelu_backward": "gelu",
    "native_batch_norm": "batchnorm", "_native_batch_norm_legit": "batchnorm",
    "_native_batch_norm_legit_no_training": "batchnorm",
    "native_batch_norm_backward": "batchnorm",
    "native_layer_norm": "layernorm", "native_layer_norm_backward": "layernorm",
    "_softmax": "softmax", "_softmax_backward_data": "softmax",
    "_log_softmax": "log_softmax", "_log_softmax_backward_data": "log_softmax",
    "nll_loss_forward": "loss", "nll_loss_backward": "loss",
    "max_pool2d_with_indices": "maxpool", "max_pool2d_with_indices_backward": "maxpool",
    "avg_pool2d": "avgpool", "avg_pool2d_backward": "avgpool",
    "_adaptive_avg_pool2d": "avgpool", "_adaptive_avg_pool2d_backward": "avgpool",
    "embedding_dense_backward": "embedding", "_to_copy": "cast", "clone": "copy",
}
# Ops that create a tensor without reading their tensor arguments' values.
_CREATE = {"empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like",
           "full", "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "arange",
           "scalar_tensor", "fill"}


def measure_nnz(weight: torch.Tensor, dim: int, m: int) -> int:
    """Largest number of non-zeros in any group of ``m`` consecutive elements along ``dim``."""
    if not weight.numel():
        return 0
    nz = (weight.detach() != 0).movedim(dim, 0).reshape(weight.shape[dim], -1)
    size = nz.shape[0]
    nz = torch.nn.functional.pad(nz.view(torch.uint8), (0, 0, 0, -size % m))
    # The groups' counts, summed slice by slice along contiguous rows (a strided sum over
    # groups of m is several times slower); uint8 holds counts up to m <= 255.
    groups = nz.reshape(-1, m, nz.shape[1])
    count = groups[:, 0].clone()
    for j in range(1, m):
        count += groups[:, j]
    return int(count.max())


def _dtype(t: torch.Tensor | torch.dtype) -> str:
    return str(t if isinstance(t, torch.dtype) else t.dtype).removeprefix("torch.")


@dataclass
class _Tensor:
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


@dataclass
class Capture:
    """What one recording produced: the tensor table, records in execution order, dumps."""

    records: list = field(default_factory=list)
    tensors: list[TensorInfo] = field(default_factory=list)
    dumps: dict[str, torch.Tensor] = field(default_factory=dict)  # "layer/phase/operand"


class _Recorder(TorchDispatchMode):
    def __init__(self, model: nn.Module, method: str, nm: NMPattern | None,
                 prunable: dict[str, bool], measure: bool, dump: set[str], keep_grads: bool):
        super().__init__()
        self.method, self.nm, self.prunable = method, nm, prunable
        self.measure, self.dump, self.keep_grads = measure, dump, keep_grads
        self.capture = Capture()
        self._stack: list[tuple[str, int]] = []  # running modules: (name, first sequence nr)
        self._ranges: list[tuple[int, int, int, str]] = []  # (start, end, depth, name)
        self._tensors: list[_Tensor] = []
        self._ids: dict[int, tuple[StorageWeakRef, int]] = {}  # storage -> tensor id
        # Weight-side storages -> the parameters (tensor ids) they are computed from.
        self._weighty: dict[int, tuple[StorageWeakRef, frozenset[int]]] = {}
        self._views: dict[tuple, int] = {}  # (base id, offset, shape, stride) -> view's id
        self._copies: dict[tuple[int, str], int] = {}  # (param id, dtype) -> copy's id
        # (param id, FF | BP) -> ids of the compressed values and their index
        self._packed: dict[tuple[int, str], tuple[int, int]] = {}
        self._loss: int | None = None
        self._backward = False  # the forward is done (backward() makes its seed gradient)
        self.params: dict[str, tuple[nn.Parameter, int]] = {}  # name -> (param, tensor id)
        self._grads: dict[int, int | None] = {}  # param id -> its accumulated gradient's id
        self._param_shapes = {tuple(p.shape) for p in model.parameters()}
        for name, p in model.named_parameters():
            self.params[name] = (p, self._state(p, name))
        for name, buf in model.named_buffers():  # BN statistics, constant masks
            self._state(buf, name)

    # -- tensors ----------------------------------------------------------------------------
    @staticmethod
    def _key(t: torch.Tensor) -> int:
        # The storage's identity: shared by views, valid for fake tensors (no data).
        return t.untyped_storage()._cdata

    def _new(self, info: _Tensor) -> int:
        self._tensors.append(info)
        return len(self._tensors) - 1

    def _lookup(self, table: dict, t: torch.Tensor):
        entry = table.get(self._key(t))
        return None if entry is None or entry[0].expired() else entry[1]

    def _info(self, t: torch.Tensor, **facts) -> _Tensor:
        storage = t.untyped_storage()
        whole = t.numel() * t.element_size() == storage.nbytes()
        shape = tuple(t.shape) if whole else (storage.nbytes() // t.element_size(),)
        return _Tensor(shape=shape, dtype=_dtype(t), bytes=storage.nbytes(), **facts)

    def _state(self, t: torch.Tensor, name: str) -> int:
        tid = self._new(self._info(t, role=Role.PARAMETER, name=name,
                                   layer=name.rpartition(".")[0] or name))
        ref = StorageWeakRef(t.untyped_storage())
        self._ids[self._key(t)] = (ref, tid)
        self._weighty[self._key(t)] = (ref, frozenset({tid}))
        return tid

    def _id(self, t: torch.Tensor, layer: str | None, phase: Phase | None) -> int:
        """The tensor ``t``'s storage holds; a storage seen first here is a new tensor."""
        tid = self._lookup(self._ids, t)
        if tid is None:
            tid = self._new(self._info(t, layer=layer))
            self._ids[self._key(t)] = (StorageWeakRef(t.untyped_storage()), tid)
        if phase is not None and self._tensors[tid].written is None:
            self._tensors[tid].written = phase
        return tid

    def _sources(self, t: object) -> frozenset[int] | None:
        """The parameters a weight-side tensor is computed from (``None``: not weight-side)."""
        return self._lookup(self._weighty, t) if isinstance(t, torch.Tensor) else None

    def _weight_ids(self, t: torch.Tensor) -> list[int]:
        """Graph tensors a weight-side operand stands for: a parameter or buffer itself, else
        the parameters it is computed from (their low-precision copies if it was cast)."""
        own = self._lookup(self._ids, t)
        if own is not None:
            return [own]
        ids = []
        for source in sorted(self._sources(t)):
            ids.append(source if self._tensors[source].dtype == _dtype(t)
                       else self._copy(source, _dtype(t)))
        return ids

    def _copy(self, param: int, dtype: str) -> int:
        """The low-precision copy of ``param`` the step keeps (the update writes it)."""
        if (param, dtype) not in self._copies:
            p = self._tensors[param]
            self._copies[param, dtype] = self._new(_Tensor(
                shape=p.shape, dtype=dtype, bytes=storage_bytes(p.shape, dtype),
                role=Role.PARAMETER, layer=p.layer, name=f"{p.name}:{dtype}", of=param))
        return self._copies[param, dtype]

    def _compressed(self, param: int, direction: str, dtype: str) -> tuple[int, int]:
        """Values and index of ``param``'s N:M form for ``direction``, created with their
        ``maskgen`` record (both directions at once for bdwp, as the layer computes them)."""
        if (param, direction) not in self._packed:
            p, nm = self._tensors[param], self.nm
            for d in ("FF", "BP") if self.method == "bdwp" else ("FF",):
                shape = compressed_shape(p.shape, d, nm)
                ids = tuple(self._new(_Tensor(
                    shape=shape, dtype=kind, bytes=storage_bytes(shape, kind), role=role,
                    layer=p.layer, name=f"{p.name}:{d}{suffix}", of=param, nm=nm))
                    for kind, role, suffix in ((dtype, Role.COMPRESSED, ""),
                                               (index_dtype(nm.m), Role.INDEX, ".index")))
                self._packed[param, d] = ids
                self.capture.records.append(MaskGenOp(
                    layer=p.layer, elements=math.prod(p.shape), sparsity=nm, direction=d,
                    reads=(param,), writes=ids))
        return self._packed[param, direction]

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        """Saved-tensor hook: mark what autograd keeps for the backward pass."""
        tid = self._lookup(self._ids, t)
        if tid is not None:
            self._tensors[tid].saved = True
        return t

    def accumulated(self, p: nn.Parameter) -> None:
        """Post-accumulate-grad hook: note ``p.grad``'s tensor, drop it unless kept."""
        pid = self._lookup(self._ids, p)
        self._grads[pid] = self._lookup(self._ids, p.grad)
        info = self._tensors[pid]
        if info.layer in self.dump and info.name == f"{info.layer}.weight":
            # The weight update's input (SR-STE term included), for the WUVE's validation;
            # copied outside the recording (no record of the dump's own copy).
            with _disable_current_modes():
                self.capture.dumps[f"{info.layer}/WU/g"] = p.grad.detach().clone()
        if not self.keep_grads:  # the update is recorded, not run: free it at once
            p.grad = None

    # -- layers -----------------------------------------------------------------------------
    def pre_hook(self, name: str) -> None:
        self._stack.append((name, torch._C._autograd._get_sequence_nr()))

    def post_hook(self) -> None:
        name, start = self._stack.pop()
        end = torch._C._autograd._get_sequence_nr()
        self._ranges.append((start, end, len(self._stack), name))

    def _layer(self, node) -> str:
        if node is None:
            return self._stack[-1][0] if self._stack else "(model)"
        seq, best = node._sequence_nr(), None
        for start, end, depth, name in self._ranges:
            if start <= seq < end and (best is None or depth > best[0]):
                best = (depth, name)
        return best[1] if best else "(model)"

    # -- dispatch ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        mutated = _mutated(func, args, kwargs)
        if not any(t.numel() for t in (*outputs, *mutated)):
            return out  # sizes, scalars, empty placeholders: no data written
        in_keys = {self._key(t) for t in inputs}
        if not mutated and all(self._key(o) in in_keys for o in outputs):
            return out  # a view or reshape: the same tensor
        sources = [self._sources(t) for t in inputs]
        if inputs and all(s is not None for s in sources):
            union = frozenset().union(*sources)
            for o in outputs:  # weight-side work (masks, W * mask, casts): no datapath op
                self._weighty[self._key(o)] = (StorageWeakRef(o.untyped_storage()), union)
            return out
        node = torch._C._current_autograd_node()
        phase = Phase.FF if node is None and not self._backward else None
        layer = self._layer(node)
        if func in _GEMMS:
            self._gemm(func, args, out, phase, layer)
        elif func is aten.convolution.default:
            self._conv(args, Phase.FF, layer, x=args[0], w=args[1], y=out, bias=args[2])
            self._dump(layer, Phase.FF, x=args[0], w=args[1], y=out,
                       **({} if args[2] is None else {"bias": args[2]}))
        elif func is aten.convolution_backward.default:
            dy, x, w, mask = args[0], args[1], args[2], args[10]
            if mask[0]:
                self._conv(args[1:], Phase.BP, layer, x=dy, w=w, y=out[0])
                self._dump(layer, Phase.BP, dy=dy, w=w, dx=out[0])
            if mask[1]:
                self._conv(args[1:], Phase.WG, layer, x=dy, w=x, y=out[1])
                self._dump(layer, Phase.WG, dy=dy, x=x, dw=out[1])
            if mask[2]:
                self._vector("bias_grad", Phase.WG, layer, [dy], [out[2]])
        else:
            name = func.overloadpacket.__name__
            if name.removesuffix("_") in _CREATE:
                inputs = []
            op = _VECTOR.get(name) or name.strip("_")
            self._vector(op, phase, layer, inputs, [*outputs, *mutated])
        return out

    def _vector(self, op: str, phase: Phase | None, layer: str, inputs, outputs) -> None:
        reads = _unique(i for t in inputs for i in self._read(t))
        writes = _unique(self._id(t, layer, phase or Phase.BP) for t in outputs)
        self.capture.records.append(VectorOp(
            phase=phase or Phase.BP, layer=layer, op=op,
            elements=max(1, outputs[0].numel()), reads=reads, writes=writes))

    def _read(self, t: torch.Tensor) -> tuple[int, ...]:
        """Graph tensors reading ``t`` means: its storage's, or a view entry for a part of it
        (``x[:, 0]``), so that a record's reads have the bytes it reads."""
        if self._sources(t) is not None:
            return tuple(self._weight_ids(t))
        base = self._id(t, None, None)
        if t.storage_offset() == 0 and t.numel() * t.element_size() >= self._tensors[base].bytes:
            return (base,)
        key = (base, t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key not in self._views:
            self._views[key] = self._new(_Tensor(
                shape=tuple(t.shape), dtype=_dtype(t), bytes=t.numel() * t.element_size(),
                view_of=base))
        return (self._views[key],)

    def _dump(self, layer: str, phase: Phase, **tensors: torch.Tensor) -> None:
        if layer in self.dump:
            for name, tensor in tensors.items():
                self.capture.dumps[f"{layer}/{phase}/{name}"] = tensor.detach().clone()

    def _weight_operand(self, weight: torch.Tensor, phase: Phase, dim: int
                        ) -> tuple[NMPattern | None, bool, tuple[int, ...]]:
        """(measured N:M, prunable, graph tensors) of a GEMM's weight operand."""
        param = min(self._sources(weight))
        owner = self._tensors[param].layer
        if self.nm is None or not self.prunable.get(owner, False):
            return None, False, tuple(self._weight_ids(weight))
        direction = "BP" if phase is Phase.BP and self.method == "bdwp" else "FF"
        tensors = self._compressed(param, direction, _dtype(weight))
        if not self.measure:  # shapes only: no values, trust the configuration
            return self.nm, True, tensors
        # N:M only where every group of m holds at most the method's n non-zeros.
        nnz = measure_nnz(weight, dim, self.nm.m)
        return (NMPattern(max(nnz, 1), self.nm.m) if nnz <= self.nm.n else None), True, tensors

    def _gemm(self, func, args, out, phase: Phase | None, layer: str) -> None:
        with_bias = func in (aten.addmm.default, aten.baddbmm.default)
        a, b = (args[1], args[2]) if with_bias else args[:2]
        batched = a.dim() == 3
        weight = "B" if self._sources(b) is not None else "A" if self._sources(a) else None
        if phase is None:  # backward
            is_wg = weight is None and tuple(out.shape) in self._param_shapes and not batched
            phase = Phase.WG if is_wg else Phase.BP
        operands = {"a": a, "b": b}
        sparsity, prunable, ids = None, False, {}
        if weight is not None:
            name = weight.lower()
            sparsity, prunable, ids[name] = self._weight_operand(
                operands[name], phase, dim=-2 if weight == "B" else -1)
        for name, t in operands.items():
            if name not in ids:
                ids[name] = self._read(t)
        bias = tuple(self._read(args[0])) if with_bias else ()
        self._dump(layer, phase, a=a, b=b, c=out, **({"bias": args[0]} if with_bias else {}))
        self.capture.records.append(GemmOp(
            phase=phase, layer=layer, M=a.shape[-2], K=a.shape[-1], N=b.shape[-1],
            batch=a.shape[0] if batched else 1, weight=weight, sparsity=sparsity,
            prunable=prunable, dtype=_dtype(a), a=ids["a"], b=ids["b"],
            c=(self._id(out, layer, phase),), bias=bias))

    def _conv(self, args, phase: Phase, layer: str, *, x: torch.Tensor, w: torch.Tensor,
              y: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        """A conv GEMM; ``x``, ``w``, ``y`` are its A, B and C tensors in this phase."""
        inp, weight = args[0], args[1]
        stride, padding, dilation, transposed, _, groups = args[3:9]
        if transposed:
            raise NotImplementedError("transposed convolutions are not lowered yet")
        conv = ConvParams(batch=inp.shape[0], in_channels=inp.shape[1],
                          out_channels=weight.shape[0], height=inp.shape[2], width=inp.shape[3],
                          kernel=tuple(weight.shape[2:]), stride=tuple(stride),
                          padding=tuple(padding), dilation=tuple(dilation), groups=groups)
        m_dim, k_dim, n_dim, batch = conv.gemm_dims(phase)
        sparsity, prunable, b = None, False, None
        if phase is not Phase.WG:  # FF groups along C_in (dim 1), BP along C_out (dim 0)
            sparsity, prunable, b = self._weight_operand(
                w, phase, dim=1 if phase is Phase.FF else 0)
        else:
            b = self._read(w)
        self.capture.records.append(GemmOp(
            phase=phase, layer=layer, M=m_dim, K=k_dim, N=n_dim, batch=batch,
            weight=None if phase is Phase.WG else "B", sparsity=sparsity, prunable=prunable,
            conv=conv, dtype=_dtype(inp), a=self._read(x), b=b,
            c=(self._id(y, layer, phase),),
            bias=() if bias is None else tuple(self._read(bias))))

    # -- the end of the step ----------------------------------------------------------------
    def backward(self, loss: torch.Tensor) -> None:
        """The forward is done and produced ``loss``; call before ``loss.backward()``."""
        self._loss = self._lookup(self._ids, loss)
        self._backward = True

    def finish(self, optimizer: str | None) -> None:
        """Add one update per parameter and build the tensor table."""
        records = self.capture.records
        grads = {}
        for name, (_, pid) in self.params.items():
            if pid not in self._grads:  # no gradient reached it
                continue
            gid = self._grads[pid]
            if gid is None:
                raise RuntimeError(f"the gradient of {name} was not written by a recorded op")
            grads[gid] = pid
            self._tensors[gid].role, self._tensors[gid].of = Role.WEIGHT_GRADIENT, pid
            info = self._tensors[pid]
            state = () if optimizer != "sgd-momentum" else (self._new(_Tensor(
                shape=info.shape, dtype=info.dtype, bytes=info.bytes,
                role=Role.OPTIMIZER_STATE, layer=info.layer, name=f"{name}:momentum",
                of=pid)),)
            copies = tuple(tid for (of, _), tid in self._copies.items() if of == pid)
            records.append(UpdateOp(layer=info.layer, param=name, elements=math.prod(info.shape),
                                    optimizer=optimizer or "sgd", reads=(gid, pid, *state),
                                    writes=(pid, *state, *copies)))
        for i, record in enumerate(records):  # backward vector work producing weight grads
            if (isinstance(record, VectorOp) and record.writes
                    and all(t in grads for t in record.writes)):
                records[i] = record.model_copy(update={"phase": Phase.WG})
        wg = {tid for r in records if isinstance(r, GemmOp) and r.phase is Phase.WG
              for tid in r.c}
        for i, record in enumerate(records):  # work on weight gradients (casts, decay) too
            if (isinstance(record, VectorOp) and record.phase is not Phase.FF
                    and wg.intersection(record.reads)):
                records[i] = record.model_copy(update={"phase": Phase.WG})
                wg.update(record.writes)
        for tid, t in enumerate(self._tensors):
            if t.role is None and t.view_of is None:
                t.role = _role(t, tid == self._loss, tid in wg)
        used = {tid for r in records for tid in (*r.reads, *r.writes)}
        used |= {t.view_of for tid, t in enumerate(self._tensors) if tid in used} - {None}
        for tid, t in enumerate(self._tensors):
            if tid not in used:  # state no record touches (e.g. batch-norm's step counter)
                continue
            if t.view_of is not None:
                base = self._tensors[t.view_of]
                t.role, t.layer = base.role, base.layer
            self.capture.tensors.append(TensorInfo(
                id=tid, shape=t.shape, dtype=t.dtype, bytes=t.bytes, role=t.role,
                layer=t.layer or None, name=t.name, of=t.of, nm=t.nm, view_of=t.view_of))


def _role(t: _Tensor, is_loss: bool, wg: bool) -> Role:
    if t.written is None:
        return Role.INPUT
    if is_loss:
        return Role.LOSS
    if t.dtype.startswith(("int", "uint", "bool")):
        return Role.MASK
    if t.written is Phase.FF:
        return Role.SAVED if t.saved else Role.ACTIVATION
    return Role.WEIGHT_GRADIENT if wg else Role.GRADIENT


def _unique(ids) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))


def _mutated(func, args, kwargs) -> list[torch.Tensor]:
    """Tensor arguments the op writes in place (``Tensor(a!)`` in its schema)."""
    found = []
    for i, arg in enumerate(func._schema.arguments):
        if arg.alias_info is not None and arg.alias_info.is_write:
            value = args[i] if i < len(args) else kwargs.get(arg.name)
            found += [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]
    if func is aten.native_batch_norm.default and args[5]:
        # Training batch-norm updates its running statistics; this schema does not say so.
        found += [t for t in args[3:5] if isinstance(t, torch.Tensor)]
    return found


@contextmanager
def record(model: nn.Module, *, method: str, nm: NMPattern | None, prunable: dict[str, bool],
           measure: bool = True, dump: set[str] | None = None,
           optimizer: str | None = "sgd-momentum", keep_grads: bool = True
           ) -> Iterator[_Recorder]:
    """Record every op run inside the block (forward and backward) as a dataflow graph.

    Call ``backward(loss)`` on the yielded recorder before ``loss.backward()``; its
    ``capture`` holds the tensor table and the records (one update per parameter appended
    when the block ends).

    Parameters
    ----------
    model
        The model whose modules name the layers.
    method
        ``bdwp`` (FF and BP compressed weights), ``srste`` (FF only) or ``dense``.
    nm
        The method's pattern: a weight operand is recorded N:M where no group of ``nm.m``
        along the reduction holds more than ``nm.n`` non-zeros (``None``: all dense).
    prunable
        Layer name -> whether the training method prunes its weight.
    measure
        Measure N:M on the weight values; off (shape-only captures have no values), every
        prunable weight operand is recorded as ``nm``.
    dump
        Layers whose GEMM operands and results are kept in ``Capture.dumps``.
    optimizer
        The update each parameter gets: ``sgd-momentum`` (one state tensor) or ``sgd``.
    keep_grads
        Leave the gradients in ``p.grad``; off, each is dropped once accumulated (the
        recorded update does not need its value, and the step's peak memory falls).
    """
    recorder = _Recorder(model, method, nm, prunable, measure, dump or set(), keep_grads)
    handles = [p.register_post_accumulate_grad_hook(recorder.accumulated)
               for p, _ in recorder.params.values()]
    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(
            lambda mod, inp, _name=name: recorder.pre_hook(_name)))
        handles.append(module.register_forward_hook(lambda mod, inp, out: recorder.post_hook()))
    try:
        with recorder, torch.autograd.graph.saved_tensors_hooks(recorder._pack, lambda t: t):
            yield recorder
        recorder.finish(optimizer)
    finally:
        for handle in handles:
            handle.remove()
