"""Record one training iteration's GEMMs and vector work with a ``TorchDispatchMode``.

The mode sits below autograd, so it sees every aten op of the forward and of the backward:

* **Phase.** Ops run outside the autograd engine are FF. ``convolution_backward`` is BP when it
  computes the input gradient and WG when it computes the weight gradient (both when both). A
  backward mm/bmm with an operand derived only from weights is BP; one whose output has a
  parameter's shape (and no weight operand) is WG; any other backward GEMM (attention) is BP.
* **Layer.** Module pre/post forward hooks record the autograd sequence numbers created inside
  each module; a backward op belongs to the innermost module whose range holds its node's
  number, a forward op to the innermost module running.
* **Weight operands** are tracked by storage: parameters, their views and whatever is computed
  from weight-derived tensors only (e.g. ``W * mask``) are weight-derived.
* **Measured structure.** For each weight operand the tracer counts the largest number of
  non-zeros in any group of m along the GEMM's reduction dimension; the op is N:M only if that
  count is at most the method's n.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from satsim.trace.schema import ConvParams, GemmOp, VectorOp
from satsim.types import NMPattern, Phase

aten = torch.ops.aten

_GEMMS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
# Non-GEMM work a training accelerator's vector unit does, by aten op -> record name.
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
    "mean": "mean", "add": "add", "embedding": "embedding",
    "embedding_dense_backward": "embedding",
}


def measure_nnz(weight: torch.Tensor, dim: int, m: int) -> int:
    """Largest number of non-zeros in any group of ``m`` consecutive elements along ``dim``."""
    w = (weight.detach() != 0).movedim(dim, -1)
    size = w.shape[-1]
    if size % m:
        w = torch.nn.functional.pad(w.to(torch.uint8), (0, m - size % m)).bool()
    return int(w.unflatten(-1, (-1, m)).sum(-1).max()) if w.numel() else 0


@dataclass
class Capture:
    """What one recording produced: records in execution order, and tensor dumps."""

    records: list = field(default_factory=list)
    dumps: dict[str, torch.Tensor] = field(default_factory=dict)  # "layer/phase/operand"


class _Recorder(TorchDispatchMode):
    def __init__(self, model: nn.Module, nm: NMPattern | None, prunable: dict[str, bool],
                 measure: bool, dump: set[str]):
        super().__init__()
        self.nm, self.prunable, self.measure, self.dump = nm, prunable, measure, dump
        self.capture = Capture()
        self._stack: list[tuple[str, int]] = []  # running modules: (name, first sequence nr)
        self._ranges: list[tuple[int, int, int, str]] = []  # (start, end, depth, name)
        # Storage identity -> live tensors holding it (views share a storage, and any of
        # them may die first, so one holder is not enough).
        self._weighty: dict[int, dict[int, weakref.ref]] = {}
        self._param_shapes = {tuple(p.shape) for p in model.parameters()}
        for state in (*model.parameters(), *model.buffers()):  # BN statistics are state too
            self._mark(state)

    # -- bookkeeping ------------------------------------------------------------------------
    @staticmethod
    def _key(t: torch.Tensor) -> int | None:
        # The storage's identity: shared by views, and valid for fake tensors (no data).
        try:
            return t.untyped_storage()._cdata
        except (RuntimeError, NotImplementedError):
            return None

    def _mark(self, t: torch.Tensor) -> None:
        key = self._key(t)
        if key is not None:
            self._weighty.setdefault(key, {})[id(t)] = weakref.ref(t)

    def _is_weight(self, t: object) -> bool:
        if not isinstance(t, torch.Tensor):
            return False
        holders = self._weighty.get(self._key(t), {})
        return any(ref() is not None for ref in holders.values())

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
        node = torch._C._current_autograd_node()
        phase = Phase.FF if node is None else None
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if tensors and all(self._is_weight(a) for a in tensors):
            for o in out if isinstance(out, tuple | list) else (out,):
                if isinstance(o, torch.Tensor):
                    self._mark(o)
            return out  # weight-side work (views, masks, W * mask) is not a datapath op
        layer = self._layer(node)
        if func in _GEMMS:
            self._gemm(func, args, out, phase, layer)
        elif func is aten.convolution.default:
            self._conv(args, Phase.FF, layer, weight=args[1])
            self._dump(layer, Phase.FF, x=args[0], w=args[1], y=out)
        elif func is aten.convolution_backward.default:
            mask = args[10]
            if mask[0]:
                self._conv(args[1:], Phase.BP, layer, weight=args[2])
                self._dump(layer, Phase.BP, dy=args[0], w=args[2], dx=out[0])
            if mask[1]:
                self._conv(args[1:], Phase.WG, layer, weight=None)
                self._dump(layer, Phase.WG, dy=args[0], x=args[1], dw=out[1])
        else:
            name = func.overloadpacket.__name__.rstrip("_")
            kind = _VECTOR.get(name)
            if kind is not None and isinstance(out, torch.Tensor | tuple):
                first = out[0] if isinstance(out, tuple) else out
                self.capture.records.append(VectorOp(
                    phase=phase or Phase.BP, layer=layer, op=kind,
                    elements=max(1, first.numel())))
        return out

    def _dump(self, layer: str, phase: Phase, **tensors: torch.Tensor) -> None:
        if layer in self.dump:
            for name, tensor in tensors.items():
                self.capture.dumps[f"{layer}/{phase}/{name}"] = tensor.detach().clone()

    def _sparsity(self, layer: str, weight: torch.Tensor, dim: int) -> NMPattern | None:
        if self.nm is None or not self.prunable.get(layer, False):
            return None
        if not self.measure:  # shapes only: no values, trust the configuration
            return self.nm
        # N:M only where every group of m holds at most the method's n non-zeros.
        nnz = measure_nnz(weight, dim, self.nm.m)
        return NMPattern(max(nnz, 1), self.nm.m) if nnz <= self.nm.n else None

    def _gemm(self, func, args, out, phase: Phase | None, layer: str) -> None:
        with_bias = func in (aten.addmm.default, aten.baddbmm.default)
        a, b = (args[1], args[2]) if with_bias else args[:2]
        batched = a.dim() == 3
        m_dim, k_dim = a.shape[-2], a.shape[-1]
        n_dim = b.shape[-1]
        weight = "B" if self._is_weight(b) else "A" if self._is_weight(a) else None
        if phase is None:  # backward
            is_wg = weight is None and tuple(out.shape) in self._param_shapes and not batched
            phase = Phase.WG if is_wg else Phase.BP
        sparsity = None
        if weight == "B":
            sparsity = self._sparsity(layer, b, dim=-2)
        elif weight == "A":
            sparsity = self._sparsity(layer, a, dim=-1)
        self._dump(layer, phase, a=a, b=b, c=out)
        self.capture.records.append(GemmOp(
            phase=phase, layer=layer, M=m_dim, K=k_dim, N=n_dim,
            batch=a.shape[0] if batched else 1, weight=weight, sparsity=sparsity,
            prunable=weight is not None and self.prunable.get(layer, False),
            dtype=str(a.dtype).removeprefix("torch.")))

    def _conv(self, args, phase: Phase, layer: str, weight: torch.Tensor | None) -> None:
        x, w = args[0], args[1]
        stride, padding, dilation, transposed, _, groups = args[3:9]
        if transposed:
            raise NotImplementedError("transposed convolutions are not lowered yet")
        conv = ConvParams(batch=x.shape[0], in_channels=x.shape[1], out_channels=w.shape[0],
                          height=x.shape[2], width=x.shape[3], kernel=tuple(w.shape[2:]),
                          stride=tuple(stride), padding=tuple(padding),
                          dilation=tuple(dilation), groups=groups)
        m_dim, k_dim, n_dim, batch = conv.gemm_dims(phase)
        sparsity = None
        if weight is not None:  # FF groups along C_in (dim 1), BP along C_out (dim 0)
            sparsity = self._sparsity(layer, weight, dim=1 if phase is Phase.FF else 0)
        self.capture.records.append(GemmOp(
            phase=phase, layer=layer, M=m_dim, K=k_dim, N=n_dim, batch=batch,
            weight=None if weight is None else "B", sparsity=sparsity,
            prunable=weight is not None and self.prunable.get(layer, False), conv=conv,
            dtype=str(x.dtype).removeprefix("torch.")))


@contextmanager
def record(model: nn.Module, *, nm: NMPattern | None, prunable: dict[str, bool],
           measure: bool = True, dump: set[str] | None = None) -> Iterator[Capture]:
    """Record every op run inside the block (forward and backward) as trace records.

    Parameters
    ----------
    model
        The model whose modules name the layers.
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
    """
    recorder = _Recorder(model, nm, prunable, measure, dump or set())
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(
            lambda mod, inp, _name=name: recorder.pre_hook(_name)))
        handles.append(module.register_forward_hook(lambda mod, inp, out: recorder.post_hook()))
    try:
        with recorder:
            yield recorder.capture
    finally:
        for handle in handles:
            handle.remove()
