"""Record one training iteration as a tensor dataflow graph with a ``TorchDispatchMode``.

The mode sits below autograd, so it sees every aten op of the forward and of the backward:

* **Tensors** are storages (:mod:`satsim.capture.tensor_table`): an op that only aliases is
  not a record. Autograd's saved-tensor hooks tell which FF tensors are kept for the backward.
* **Phase.** Ops run outside the autograd engine are FF, and so are those of a module running
  inside it (an activation checkpoint's recomputation). ``convolution_backward`` is BP when it
  computes the input gradient and WG when it computes the weight gradient (both when both). A
  backward mm/bmm with an operand derived only from weights is BP; one whose output has a
  parameter's shape (and no weight operand) is WG; any other backward GEMM (attention) is BP.
* **Layer.** An op belongs to the innermost module running it, in the forward or (through
  autograd's sequence numbers) in the backward (:mod:`satsim.capture.layer_scopes`).
* **Weights.** Parameters, buffers and whatever is computed from them only (``W * mask``, the
  low-precision cast) are weight-side work, not datapath ops. A GEMM's weight operand resolves
  to the graph's weight tensor: the compressed values and index of its N:M form when the layer
  is sparse (written by a ``maskgen`` record, emitted at the layer's first FF GEMM), else the
  parameter, or its low-precision copy under autocast (which the update writes).
* **Measured structure.** For each weight operand the tracer counts the largest number of
  non-zeros in any group of m along the GEMM's reduction dimension; the op is N:M only if that
  count is at most the method's n.
* **Causal attention.** A masked fill with a buffer named ``causal_mask`` marks a score block;
  the mark follows element-wise work, and each GEMM writing or reading a score block is
  recorded ``causal`` over the dimensions the blocks span (its real MACs: the lower triangles).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_leaves

from satsim.capture.aten_ops import CREATE, GEMMS, VECTOR, written_in_place
from satsim.capture.layer_scopes import LayerScopes
from satsim.capture.tensor_table import TensorTable, TrackedTensor, dtype_name
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
# Each optimizer's state tensors per parameter (fp32, the master weight's format).
OPTIMIZER_STATES = {"sgd": (), "sgd-momentum": ("momentum",), "adamw": ("exp_avg", "exp_avg_sq")}


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
        self.scopes = LayerScopes()
        self.table = TensorTable()
        # (param id, FF | BP) -> ids of the compressed values and their index
        self._packed: dict[tuple[int, str], tuple[int, int]] = {}
        self._losses: set[int] = set()  # one per micro-batch
        self._backward = False  # the forward is done (backward() makes its seed gradient)
        self._final = True  # the step's last micro-batch: its gradients complete the step's
        self.params: dict[str, tuple[nn.Parameter, int]] = {}  # name -> (param, tensor id)
        self._grads: dict[int, int | None] = {}  # param id -> its accumulated gradient's id
        # A micro-batch's gradients added to a parameter's -> that parameter's id.
        self._accumulated: dict[int, int] = {}
        self._param_shapes = {tuple(p.shape) for p in model.parameters()}
        # Causal attention: the tensors holding masked score blocks, and each recorded
        # tensor's writer (a record index), to find the GEMM that made a score block.
        self._causal: set[int] = set()
        self._writer: dict[int, int] = {}
        for name, p in model.named_parameters():
            self.params[name] = (p, self.table.add_state(p, name))
        for name, buf in model.named_buffers():  # BN statistics, constant masks
            self.table.add_state(buf, name)

    def _compressed(self, param: int, direction: str, dtype: str) -> tuple[int, int]:
        """Values and index of ``param``'s N:M form for ``direction``, created with their
        ``maskgen`` record (both directions at once for bdwp, as the layer computes them)."""
        if (param, direction) not in self._packed:
            p, nm = self.table.tensors[param], self.nm
            for d in ("FF", "BP") if self.method == "bdwp" else ("FF",):
                shape = compressed_shape(p.shape, d, nm)
                ids = tuple(self.table.new(TrackedTensor(
                    shape=shape, dtype=kind, bytes=storage_bytes(shape, kind), role=role,
                    layer=p.layer, name=f"{p.name}:{d}{suffix}", of=param, nm=nm))
                    for kind, role, suffix in ((dtype, Role.COMPRESSED, ""),
                                               (index_dtype(nm.m), Role.INDEX, ".index")))
                self._packed[param, d] = ids
                self.capture.records.append(MaskGenOp(
                    layer=p.layer, elements=math.prod(p.shape), sparsity=nm, direction=d,
                    reads=(param,), writes=ids))
        return self._packed[param, direction]

    def accumulated(self, p: nn.Parameter) -> None:
        """Post-accumulate-grad hook: note ``p.grad``'s tensor; on the last micro-batch, drop
        it unless kept (before, the next micro-batch's gradient is added to it)."""
        pid = self.table.lookup(p)
        self._grads[pid] = self.table.lookup(p.grad)
        info = self.table.tensors[pid]
        if info.layer in self.dump and info.name == f"{info.layer}.weight":
            # The weight update's input (SR-STE term included), for the WUVE's validation, and
            # before the last micro-batch what that one's gradient is added to; copied outside
            # the recording (no record of the dump's own copy).
            with _disable_current_modes():
                key = "g" if self._final else "g_before"
                self.capture.dumps[f"{info.layer}/WU/{key}"] = p.grad.detach().clone()
        if self._final and not self.keep_grads:  # the update is recorded, not run: free it
            p.grad = None

    # -- dispatch ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        mutated = written_in_place(func, args, kwargs)
        if not any(t.numel() for t in (*outputs, *mutated)):
            return out  # sizes, scalars, empty placeholders: no data written
        in_keys = {self.table.key(t) for t in inputs}
        if not mutated and all(self.table.key(o) in in_keys for o in outputs):
            return out  # a view or reshape: the same tensor
        sources = [self.table.sources(t) for t in inputs]
        if inputs and all(s is not None for s in sources):
            union = frozenset().union(*sources)
            for o in outputs:  # weight-side work (masks, W * mask, casts): no datapath op
                self.table.add_weight_side(o, union)
            return out
        node = torch._C._current_autograd_node()
        # FF: the forward, or a module's forward recomputed in the backward (a checkpoint).
        recompute = self._backward and self.scopes.running
        phase = Phase.FF if (node is None and not self._backward) or recompute else None
        param = self._accumulating(node)
        layer = self.scopes.layer(node) if param is None else self.table.tensors[param].layer
        if func in GEMMS:
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
            if name.removesuffix("_") in CREATE:
                inputs = []
            op = VECTOR.get(name) or name.strip("_")
            self._vector(op, phase, layer, inputs, [*outputs, *mutated])
            if param is not None:  # a micro-batch's weight gradient added to the step's
                self._accumulated.update(dict.fromkeys(self.capture.records[-1].reads, param))
        return out

    def _accumulating(self, node) -> int | None:
        """The parameter (tensor id) whose gradient ``node`` accumulates, if it is autograd's
        ``AccumulateGrad``: its ops (a later micro-batch's gradient added to the step's)
        belong to the parameter's layer."""
        variable = getattr(node, "variable", None)
        return self.table.lookup(variable) if isinstance(variable, torch.Tensor) else None

    def _vector(self, op: str, phase: Phase | None, layer: str, inputs, outputs) -> None:
        reads = _unique(i for t in inputs for i in self.table.read(t))
        writes = _unique(self.table.id_of(t, layer, phase or Phase.BP) for t in outputs)
        self._follow_causal(inputs, writes)
        self._writes(writes)
        self.capture.records.append(VectorOp(
            phase=phase or Phase.BP, layer=layer, op=op,
            elements=max(1, outputs[0].numel()), reads=reads, writes=writes))

    def _writes(self, ids) -> None:
        for tid in ids:
            self._writer[tid] = len(self.capture.records)

    # -- causal attention -------------------------------------------------------------------
    def _follow_causal(self, inputs, writes: tuple[int, ...]) -> None:
        """Track masked score blocks through element-wise work.

        A masked fill with a ``causal_mask`` buffer starts a score block; an op reading one
        makes its outputs of the same size score blocks too, and so is every input of that
        size (the other operand of softmax's backward: the GEMM made it in full, but only
        the unmasked part is used). A GEMM that writes a score block is causal over (M, N)
        (:meth:`_mark_writer`); one that reads one, over (M, K) or (K, N) (:meth:`_gemm`).
        """
        masked = any(self._is_causal_mask(t) for t in inputs)
        acts = [t for t in inputs if self.table.sources(t) is None]
        ids = [self.table.lookup(t) for t in acts]
        if not masked and not self._causal.intersection(ids):
            return
        size = max(t.numel() for t in acts) if masked else max(
            t.numel() for t, tid in zip(acts, ids, strict=True) if tid in self._causal)
        for t, tid in zip(acts, ids, strict=True):
            if t.numel() == size and tid not in self._causal:
                self._mark_writer(tid, size)
        self._causal.update(w for w in writes if math.prod(self.table.tensors[w].shape) == size)

    def _is_causal_mask(self, t: torch.Tensor) -> bool:
        sources = self.table.sources(t)
        return bool(sources) and t.dtype == torch.bool and any(
            (self.table.tensors[s].name or "").endswith("causal_mask") for s in sources)

    def _mark_writer(self, tid: int | None, size: int) -> None:
        """``tid`` holds a score block: so did what it was computed from element-wise, back
        to the GEMM that wrote it, which becomes causal over (M, N)."""
        if tid is None or tid in self._causal:
            return
        self._causal.add(tid)
        index = self._writer.get(tid)
        if index is None:
            return
        record = self.capture.records[index]
        if isinstance(record, GemmOp):
            self.capture.records[index] = record.model_copy(update={"causal": "MN"})
            return
        for source in record.reads:
            if math.prod(self.table.tensors[source].shape) == size:
                self._mark_writer(source, size)

    def _dump(self, layer: str, phase: Phase, **tensors: torch.Tensor) -> None:
        if layer in self.dump:
            for name, tensor in tensors.items():
                self.capture.dumps[f"{layer}/{phase}/{name}"] = tensor.detach().clone()

    def _weight_operand(self, weight: torch.Tensor, phase: Phase, dim: int
                        ) -> tuple[NMPattern | None, bool, tuple[int, ...]]:
        """(measured N:M, prunable, graph tensors) of a GEMM's weight operand."""
        param = min(self.table.sources(weight))
        owner = self.table.tensors[param].layer
        if self.nm is None or not self.prunable.get(owner, False):
            return None, False, tuple(self.table.weight_ids(weight))
        direction = "BP" if phase is Phase.BP and self.method == "bdwp" else "FF"
        tensors = self._compressed(param, direction, dtype_name(weight))
        if not self.measure:  # shapes only: no values, trust the configuration: SR-STE's
            # BP multiplies by the FF-pruned weight, N:M along the other dimension only
            sparse = phase is not Phase.BP or self.method == "bdwp"
            return (self.nm if sparse else None), True, tensors
        # N:M only where every group of m holds at most the method's n non-zeros.
        nnz = measure_nnz(weight, dim, self.nm.m)
        return (NMPattern(max(nnz, 1), self.nm.m) if nnz <= self.nm.n else None), True, tensors

    def _gemm(self, func, args, out, phase: Phase | None, layer: str) -> None:
        with_bias = func in (aten.addmm.default, aten.baddbmm.default)
        a, b = (args[1], args[2]) if with_bias else args[:2]
        batched = a.dim() == 3
        weight = ("B" if self.table.sources(b) is not None
                  else "A" if self.table.sources(a) else None)
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
                ids[name] = self.table.read(t)
        bias = tuple(self.table.read(args[0])) if with_bias else ()
        self._dump(layer, phase, a=a, b=b, c=out, **({"bias": args[0]} if with_bias else {}))
        causal = ("MK" if self.table.lookup(a) in self._causal
                  else "KN" if self.table.lookup(b) in self._causal else None)
        c = (self.table.id_of(out, layer, phase),)
        self._writes(c)
        self.capture.records.append(GemmOp(
            phase=phase, layer=layer, M=a.shape[-2], K=a.shape[-1], N=b.shape[-1],
            batch=a.shape[0] if batched else 1, weight=weight, sparsity=sparsity,
            prunable=prunable, dtype=dtype_name(a), a=ids["a"], b=ids["b"], c=c, bias=bias,
            causal=causal))

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
            b = self.table.read(w)
        self.capture.records.append(GemmOp(
            phase=phase, layer=layer, M=m_dim, K=k_dim, N=n_dim, batch=batch,
            weight=None if phase is Phase.WG else "B", sparsity=sparsity, prunable=prunable,
            conv=conv, dtype=dtype_name(inp), a=self.table.read(x), b=b,
            c=(self.table.id_of(y, layer, phase),),
            bias=() if bias is None else tuple(self.table.read(bias))))

    # -- the passes of the step -------------------------------------------------------------
    def forward(self, final: bool) -> None:
        """A (micro-batch's) forward starts; ``final``: the step's last, whose backward
        completes the gradients (without this call, the step has one)."""
        self._backward, self._final = False, final

    def backward(self, loss: torch.Tensor) -> None:
        """The forward is done and produced ``loss``; call before ``loss.backward()``."""
        self._losses.add(self.table.lookup(loss))
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
            self.table.tensors[gid].role, self.table.tensors[gid].of = Role.WEIGHT_GRADIENT, pid
            info = self.table.tensors[pid]
            state = tuple(self.table.new(TrackedTensor(
                shape=info.shape, dtype=info.dtype, bytes=info.bytes,
                role=Role.OPTIMIZER_STATE, layer=info.layer, name=f"{name}:{kind}", of=pid))
                for kind in OPTIMIZER_STATES[optimizer or "sgd"])
            copies = tuple(tid for (of, _), tid in self.table.copies.items() if of == pid)
            records.append(UpdateOp(layer=info.layer, param=name, elements=math.prod(info.shape),
                                    optimizer=optimizer or "sgd", reads=(gid, pid, *state),
                                    writes=(pid, *state, *copies)))
        # Backward vector work producing weight grads, or a micro-batch's share of one.
        partial = self._accumulated.keys() - grads.keys()
        for tid in partial:
            self.table.tensors[tid].role = Role.WEIGHT_GRADIENT
            self.table.tensors[tid].of = self._accumulated[tid]
        for i, record in enumerate(records):
            if (isinstance(record, VectorOp) and record.writes
                    and all(t in grads or t in partial for t in record.writes)):
                records[i] = record.model_copy(update={"phase": Phase.WG})
        wg = {tid for r in records if isinstance(r, GemmOp) and r.phase is Phase.WG
              for tid in r.c}
        for i, record in enumerate(records):  # work on weight gradients (casts, decay) too
            if (isinstance(record, VectorOp) and record.phase is not Phase.FF
                    and wg.intersection(record.reads)):
                records[i] = record.model_copy(update={"phase": Phase.WG})
                wg.update(record.writes)
        self.capture.tensors = self.table.infos(records, self._losses, wg)


def _unique(ids) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))




@contextmanager
def record(model: nn.Module, *, method: str, nm: NMPattern | None, prunable: dict[str, bool],
           measure: bool = True, dump: set[str] | None = None,
           optimizer: str | None = "sgd-momentum", keep_grads: bool = True
           ) -> Iterator[_Recorder]:
    """Record every op run inside the block (forward and backward) as a dataflow graph.

    Call ``backward(loss)`` on the yielded recorder before ``loss.backward()``, and, with
    several micro-batches, ``forward(final)`` before each one's forward; its
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
        The update each parameter gets: ``sgd``, ``sgd-momentum`` (one state tensor) or
        ``adamw`` (two), as in :data:`OPTIMIZER_STATES`.
    keep_grads
        Leave the gradients in ``p.grad``; off, each is dropped once the last micro-batch
        has accumulated it (the recorded update does not need its value, and the step's peak
        memory falls).
    """
    recorder = _Recorder(model, method, nm, prunable, measure, dump or set(), keep_grads)
    handles = [p.register_post_accumulate_grad_hook(recorder.accumulated)
               for p, _ in recorder.params.values()]
    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(
            lambda mod, inp, _name=name: recorder.scopes.pre_hook(_name)))
        handles.append(module.register_forward_hook(  # always: a module that raises ends too
            lambda mod, inp, out: recorder.scopes.post_hook(), always_call=True))
    try:
        with recorder, torch.autograd.graph.saved_tensors_hooks(recorder.table.pack, lambda t: t):
            yield recorder
        recorder.finish(optimizer)
    finally:
        for handle in handles:
            handle.remove()
