"""Lower layers to the GEMMs of a training iteration (FF, BP, WG), as trace records.

Convolutions use implicit-GEMM lowering (im2col without materializing it); the layer that sees the
network input has no BP. Activation x activation matmuls (attention) have no weight operand,
so both of their gradients are BP and they are always dense.
"""

from __future__ import annotations

from collections.abc import Iterable

from satsim.trace.schema import ConvParams, GemmOp
from satsim.types import NMPattern, Phase


def conv_ops(layer: str, conv: ConvParams, *, phases: Iterable[Phase] = (Phase.FF, Phase.BP,
             Phase.WG), sparsity: dict[Phase, NMPattern | None] | None = None,
             prunable: bool = True) -> list[GemmOp]:
    """GEMMs of one conv layer; ``sparsity`` maps FF/BP to the weight's N:M (default dense)."""
    sparsity = sparsity or {}
    ops = []
    for phase in phases:
        m, k, n, groups = conv.gemm_dims(phase)
        weight = None if phase is Phase.WG else "B"
        ops.append(GemmOp(phase=phase, layer=layer, M=m, K=k, N=n, batch=groups, weight=weight,
                          sparsity=sparsity.get(phase) if weight else None,
                          prunable=prunable and weight is not None, conv=conv))
    return ops


def linear_ops(layer: str, tokens: int, in_features: int, out_features: int, *,
               phases: Iterable[Phase] = (Phase.FF, Phase.BP, Phase.WG),
               sparsity: dict[Phase, NMPattern | None] | None = None,
               prunable: bool = True) -> list[GemmOp]:
    """GEMMs of ``Y[T, out] = X[T, in] @ W^T``: FF, BP (dX = dY @ W) and WG (dW = dY^T @ X)."""
    sparsity = sparsity or {}
    dims = {Phase.FF: (tokens, in_features, out_features),
            Phase.BP: (tokens, out_features, in_features),
            Phase.WG: (out_features, tokens, in_features)}
    ops = []
    for phase in phases:
        m, k, n = dims[phase]
        weight = None if phase is Phase.WG else "B"
        ops.append(GemmOp(phase=phase, layer=layer, M=m, K=k, N=n, weight=weight,
                          sparsity=sparsity.get(phase) if weight else None,
                          prunable=prunable and weight is not None))
    return ops


def matmul_ops(layer: str, batch: int, m: int, k: int, n: int, *,
               backward: bool = True) -> list[GemmOp]:
    """``C = A @ B`` of two activations (e.g. QK^T, PV): FF, then dA = dC B^T, dB = A^T dC."""
    ops = [GemmOp(phase=Phase.FF, layer=layer, M=m, K=k, N=n, batch=batch)]
    if backward:
        ops += [GemmOp(phase=Phase.BP, layer=layer, M=m, K=n, N=k, batch=batch),
                GemmOp(phase=Phase.BP, layer=layer, M=k, K=m, N=n, batch=batch)]
    return ops
