"""N:M sparse training layers: BDWP and SR-STE as custom autograd functions around the GEMM.

Each sparse layer keeps its dense weight ``W`` as the trained parameter and recomputes its masks
from it at every forward (once per training step inside :func:`masks_per_step`):

- ``M_ff`` groups ``m`` consecutive weights along the forward reduction dimension (``C_in`` of a
  conv weight ``[C_out, C_in, kh, kw]`` at fixed ``(out, kh, kw)``; ``in`` of a linear weight
  ``[out, in]``) and keeps the ``n`` largest magnitudes;
- ``M_bp`` (BDWP only) groups along the output channels (``C_out`` / ``out``), the reduction
  dimension of the data-gradient GEMM. It is computed from the **dense** ``W``, not from the
  FF-pruned one (the SAT paper does not say; see docs/capture.md).

Phases: FF uses ``W*M_ff``; BP (gradient wrt the input) uses ``W*M_bp`` (``bdwp``) or ``W*M_ff``
(``srste``); WG is the dense weight gradient plus the SR-STE decay ``lam*(1 - M_ff)*W``.

The backward issues the data gradient and the weight gradient as *separate* aten calls whose
weight operand is the masked weight actually used, so a ``TorchDispatchMode`` tracer sees one BP
and one WG GEMM per layer, and no BP GEMM at all when the input needs no gradient (first layer).
Ties in the mask follow :mod:`satsim.functional.nm`: larger magnitude wins, then lower index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from satsim.capture.masks import check_nm, nm_mask
from satsim.errors import SatsimError
from satsim.trace.schema import LayerInfo

__all__ = ["LAYER_METHODS", "METHODS", "NMConv2d", "NMLinear", "masks_per_step", "nm_mask",
           "sparsify"]

LAYER_METHODS = ("bdwp", "srste")  # methods an N:M layer runs
METHODS = ("dense", *LAYER_METHODS)  # methods sparsify() accepts
DEFAULT_LAM = 2e-4  # SR-STE reference code


def _check_method(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise SatsimError(f"unknown N:M training method {method!r}; expected one of {allowed}")


def _check_lam(lam: float) -> None:
    if not (isinstance(lam, int | float) and 0 <= lam < float("inf")):
        raise SatsimError(f"SR-STE decay lam must be a finite number >= 0, got {lam!r}")


@dataclass(frozen=True)
class _NMSpec:
    """What the autograd functions need besides tensors."""

    method: str
    n: int
    m: int
    lam: float


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The GEMM dtype: autocast's lower precision when enabled (as a plain layer would get)."""
    device = x.device.type
    if torch.is_autocast_enabled(device) and x.dtype != torch.float64:
        return torch.get_autocast_dtype(device)
    return x.dtype


def _forward_masks(
    weight: torch.Tensor, spec: _NMSpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M_ff, M_bp)`` from the dense weight; ``M_bp`` is ``M_ff`` for SR-STE."""
    m_ff = nm_mask(weight, spec.n, spec.m, dim=1)
    m_bp = nm_mask(weight, spec.n, spec.m, dim=0) if spec.method == "bdwp" else m_ff
    return m_ff, m_bp


def _weight_grad(
    dw: torch.Tensor, weight: torch.Tensor, m_ff: torch.Tensor, lam: float
) -> torch.Tensor:
    """Straight-through dense gradient plus the SR-STE decay on the FF-pruned weights."""
    return dw.to(weight.dtype) + lam * weight.detach().masked_fill(m_ff, 0)


class _NMLinearFn(torch.autograd.Function):
    """``y = x (W*M_ff)^T + b`` with an N:M data gradient and an SR-STE weight gradient."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        m_ff: torch.Tensor,
        m_bp: torch.Tensor,
        spec: _NMSpec,
    ) -> torch.Tensor:
        dtype = _compute_dtype(x)
        x_c = x.to(dtype)
        b_c = None if bias is None else bias.to(dtype)
        out = F.linear(x_c, (weight * m_ff).to(dtype), b_c)
        ctx.save_for_backward(x_c, weight, m_ff, m_bp)
        ctx.spec, ctx.x_dtype, ctx.has_bias = spec, x.dtype, bias is not None
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_c, weight, m_ff, m_bp = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dtype = x_c.dtype
        g2 = grad_out.to(dtype).reshape(-1, grad_out.shape[-1])
        dx = dw = None
        # In the order dense autograd runs them (AddmmBackward0: BP first; MmBackward0, a
        # layer without bias: WG first), so that a dense fp32 capture re-annotated as N:M
        # lists the records the N:M capture does.
        for phase in ("BP", "WG") if ctx.has_bias else ("WG", "BP"):
            if phase == "BP" and need_x:  # dX = dY . W_bp
                w_bp = (weight.detach() * m_bp).to(dtype)
                dx = g2.mm(w_bp).reshape(x_c.shape).to(ctx.x_dtype)
            if phase == "WG" and need_w:  # dW = dY^T . X, dense
                dw = _weight_grad(g2.t().mm(x_c.reshape(-1, x_c.shape[-1])), weight, m_ff,
                                  ctx.spec.lam)
        db = None
        if need_b and ctx.has_bias:
            db = g2.sum(0).to(weight.dtype)
        return dx, dw, db, None, None, None


@dataclass(frozen=True)
class _ConvGeom:
    """Conv hyper-parameters in the explicit form ``aten.convolution`` takes."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


class _NMConv2dFn(torch.autograd.Function):
    """``y = conv(x, W*M_ff) + b`` with an N:M data gradient and an SR-STE weight gradient."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        m_ff: torch.Tensor,
        m_bp: torch.Tensor,
        geom: _ConvGeom,
        spec: _NMSpec,
    ) -> torch.Tensor:
        dtype = _compute_dtype(x)
        x_c = x.to(dtype)
        b_c = None if bias is None else bias.to(dtype)
        out = torch.ops.aten.convolution(
            x_c, (weight * m_ff).to(dtype), b_c, list(geom.stride), list(geom.padding),
            list(geom.dilation), False, [0, 0], geom.groups,
        )
        ctx.save_for_backward(x_c, weight, m_ff, m_bp)
        ctx.spec, ctx.geom, ctx.x_dtype, ctx.has_bias = spec, geom, x.dtype, bias is not None
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_c, weight, m_ff, m_bp = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        geom: _ConvGeom = ctx.geom
        dtype = x_c.dtype
        g = grad_out.to(dtype)
        args = (list(geom.stride), list(geom.padding), list(geom.dilation), False, [0, 0],
                geom.groups)
        dx = dw = db = None
        if need_x:  # BP, with the weight operand it really multiplies by
            w_bp = (weight.detach() * m_bp).to(dtype)
            dx = torch.ops.aten.convolution_backward(
                g, x_c, w_bp, None, *args, [True, False, False])[0].to(ctx.x_dtype)
        if need_w or need_b:  # WG; the weight operand only supplies shape/dtype here
            _, dw_raw, db_raw = torch.ops.aten.convolution_backward(
                g, x_c, weight.detach().to(dtype), [weight.shape[0]] if need_b else None,
                *args, [False, need_w, need_b])
            if need_w:
                dw = _weight_grad(dw_raw, weight, m_ff, ctx.spec.lam)
            if need_b:
                db = db_raw.to(weight.dtype)
        return dx, dw, db, None, None, None, None


class _NMMixin:
    """Shared N:M attributes and helpers of :class:`NMLinear` and :class:`NMConv2d`."""

    weight: nn.Parameter
    method: str
    n: int
    m: int
    lam: float
    _per_step: bool = False  # inside masks_per_step(): the masks are computed once
    _step_masks: tuple[torch.Tensor, torch.Tensor] | None = None

    def _set_nm(self, method: str, n: int, m: int, lam: float) -> None:
        _check_method(method, LAYER_METHODS)
        check_nm(n, m)
        _check_lam(lam)
        self.method, self.n, self.m, self.lam = method, n, m, float(lam)

    def _spec(self) -> _NMSpec:
        return _NMSpec(self.method, self.n, self.m, self.lam)

    def _forward_masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M_ff, M_bp)`` for this forward: the step's, if computed already inside
        :func:`masks_per_step`, else from the dense weight now."""
        if self._step_masks is not None:
            return self._step_masks
        masks = _forward_masks(self.weight, self._spec())
        if self._per_step:
            self._step_masks = masks
        return masks

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Current ``(M_ff, M_bp)`` from the dense weight; for SR-STE ``M_bp`` is ``M_ff``.

        ``M_bp`` is the mask of the weight operand of the data-gradient GEMM: grouped along the
        output channels for BDWP, the forward mask itself for SR-STE (whose BP has no N:M
        structure along its reduction dimension).
        """
        with torch.no_grad():
            return _forward_masks(self.weight, self._spec())

    def _nm_repr(self) -> str:
        return f"method={self.method}, nm={self.n}:{self.m}, lam={self.lam:g}"


class NMLinear(_NMMixin, nn.Linear):
    """Drop-in :class:`torch.nn.Linear` trained N:M sparse (``bdwp`` or ``srste``).

    The parameter ``weight`` stays dense; FF/BP use masked copies, see the module docstring.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: torch.dtype | None = None,
        *,
        method: str = "bdwp",
        n: int = 2,
        m: int = 8,
        lam: float = DEFAULT_LAM,
    ) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self._set_nm(method, n, m, lam)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NMLinearFn.apply(x, self.weight, self.bias, *self._forward_masks(), self._spec())

    @classmethod
    def from_dense(
        cls, module: nn.Linear, method: str, n: int, m: int, lam: float = DEFAULT_LAM
    ) -> NMLinear:
        """An N:M layer that **shares** ``module``'s weight and bias Parameter objects.

        Sharing keeps optimizer state and any other reference to the parameters valid. The new
        module is built on the meta device first, so no memory or random numbers are spent.
        """
        new = cls(module.in_features, module.out_features, module.bias is not None,
                  device="meta", method=method, n=n, m=m, lam=lam)
        new.weight, new.bias = module.weight, module.bias
        return new.train(module.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._nm_repr()}"


class NMConv2d(_NMMixin, nn.Conv2d):
    """Drop-in :class:`torch.nn.Conv2d` trained N:M sparse (``bdwp`` or ``srste``).

    The parameter ``weight`` ``[C_out, C_in/groups, kh, kw]`` stays dense; FF/BP use masked
    copies, see the module docstring. Grouped convs work as long as ``C_out/groups`` is a
    multiple of ``m`` (then no BP group straddles two conv groups); :func:`sparsify` only
    converts such layers. String padding and non-zero padding modes pad the input explicitly.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: torch.dtype | None = None,
        *,
        method: str = "bdwp",
        n: int = 2,
        m: int = 8,
        lam: float = DEFAULT_LAM,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        self._set_nm(method, n, m, lam)

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        padding: tuple[int, ...]
        pads = list(self._reversed_padding_repeated_twice)  # [w_lo, w_hi, h_lo, h_hi]
        if self.padding_mode == "zeros" and not isinstance(self.padding, str):
            padding = tuple(self.padding)
        elif self.padding_mode == "zeros" and pads[0::2] == pads[1::2]:  # symmetric same/valid
            padding = (pads[2], pads[0])
        else:  # asymmetric 'same' or reflect/replicate/circular: pad outside the GEMM
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            input, padding = F.pad(input, pads, mode=mode), (0, 0)
        geom = _ConvGeom(tuple(self.stride), padding, tuple(self.dilation), self.groups)
        return _NMConv2dFn.apply(input, weight, bias, *self._forward_masks(), geom, self._spec())

    @classmethod
    def from_dense(
        cls, module: nn.Conv2d, method: str, n: int, m: int, lam: float = DEFAULT_LAM
    ) -> NMConv2d:
        """An N:M layer that **shares** ``module``'s weight and bias Parameter objects.

        Sharing keeps optimizer state and any other reference to the parameters valid. The new
        module is built on the meta device first, so no memory or random numbers are spent.
        """
        new = cls(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                  module.padding, module.dilation, module.groups, module.bias is not None,
                  module.padding_mode, device="meta", method=method, n=n, m=m, lam=lam)
        new.weight, new.bias = module.weight, module.bias
        return new.train(module.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._nm_repr()}"


@contextmanager
def masks_per_step(model: nn.Module) -> Iterator[None]:
    """Inside the block, each N:M layer of ``model`` computes its masks at its first forward
    and reuses them at every later one.

    For one training step: the weights do not change within it, so the forwards of several
    micro-batches and an activation checkpoint's recomputation use the masks of the step's
    first forward, as an accelerator that generates the masks once per step does.
    """
    layers = [mod for mod in model.modules() if isinstance(mod, _NMMixin)]
    for layer in layers:
        layer._per_step = True
    try:
        yield
    finally:
        for layer in layers:
            layer._per_step, layer._step_masks = False, None


def _layer_info(mod: nn.Module, name: str, stem: bool, skipped: bool) -> LayerInfo:
    """What N:M can prune in ``mod`` (``status`` is filled in by the caller)."""
    if isinstance(mod, nn.Conv2d):
        kind, g = "conv", mod.groups
        ff, bp = mod.in_channels // g, mod.out_channels // g
    else:
        kind, g, ff, bp = "linear", 1, mod.in_features, mod.out_features
    excluded = None
    if skipped:
        excluded = "skipped"
    elif type(mod) not in (nn.Conv2d, nn.Linear, NMConv2d, NMLinear):
        # e.g. MultiheadAttention's out_proj: its owner reads .weight directly, never forward().
        excluded = f"subclass {type(mod).__name__} not replaced"
    elif not name:
        excluded = "root module cannot be replaced in place"
    elif stem:
        excluded = "stem conv"
    return LayerInfo(kind=kind, status="", excluded=excluded, ff_channels=ff, bp_channels=bp,
                     groups=g)


def sparsify(
    model: nn.Module,
    method: str,
    n: int,
    m: int,
    *,
    skip: Iterable[str] = (),
    lam: float = DEFAULT_LAM,
) -> dict[str, str]:
    """Replace, in place, the model's ``Conv2d``/``Linear`` layers by N:M training layers.

    Kept dense: layers named in ``skip``; the stem conv (any ``Conv2d`` with 3 input channels,
    and the first ``Conv2d`` in module order); layers whose FF reduction (``C_in/groups``,
    ``in_features``) or, for ``bdwp``, BP reduction (``C_out/groups``, ``out_features``) is not
    a multiple of ``m`` (so depthwise convs stay dense, and grouped convs are sparse only when
    both per-group counts divide); subclasses of ``Conv2d``/``Linear`` other than the N:M ones.
    Converted layers share their Parameter objects with the dense ones (see ``from_dense``).

    Parameters
    ----------
    model
        Modified in place.
    method
        ``"bdwp"``, ``"srste"`` or ``"dense"`` (replaces nothing).
    n, m
        The N:M pattern, ``1 <= n < m``.
    skip
        Qualified layer names (as in ``model.named_modules()``) to keep dense.
    lam
        SR-STE decay on the pruned weights.

    Returns
    -------
    dict[str, LayerInfo]
        For every ``Conv2d``/``Linear`` in module order: its ``status`` (``"sparse 2:8 bdwp"``
        or ``"dense: <reason>"``, e.g. ``"dense: stem conv"``, ``"dense: skipped"``) and what
        any N:M could prune in it, so a trace can be re-annotated later.

    Raises
    ------
    SatsimError
        On an unknown method, an invalid N:M pattern or lam, or a ``skip`` name that is not a
        ``Conv2d``/``Linear`` of the model.
    """
    _check_method(method, METHODS)
    check_nm(n, m)
    _check_lam(lam)
    layers = [(name, mod) for name, mod in model.named_modules()
              if isinstance(mod, nn.Conv2d | nn.Linear)]
    skipped = set(skip)
    unknown = skipped - {name for name, _ in layers}
    if unknown:
        raise SatsimError(f"skip names no Conv2d/Linear layer of the model: {sorted(unknown)}")
    first_conv = next((name for name, mod in layers if isinstance(mod, nn.Conv2d)), None)
    table: dict[str, LayerInfo] = {}
    for name, mod in layers:
        stem = isinstance(mod, nn.Conv2d) and (name == first_conv or mod.in_channels == 3)
        info = _layer_info(mod, name, stem, name in skipped)
        reason = "method dense" if method == "dense" else info.dense_reason(method, m)
        if reason is None:
            parent_name, _, leaf = name.rpartition(".")
            layer_cls = NMConv2d if isinstance(mod, nn.Conv2d) else NMLinear
            setattr(model.get_submodule(parent_name), leaf,
                    layer_cls.from_dense(mod, method, n, m, lam))
        status = f"dense: {reason}" if reason else f"sparse {n}:{m} {method}"
        table[name] = info.model_copy(update={"status": status})
    return table
