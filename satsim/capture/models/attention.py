"""Multi-head softmax attention as explicit matmuls, shared by ViT, GPT-2 and LLaMA."""

from __future__ import annotations

import torch


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention [B, H, T, hd] with explicit matmuls, so the two bmm ops are visible."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    return scores_softmax(scores, mask) @ v


def causal_mask(context: int) -> torch.Tensor:
    """``[context, context]``, True above the diagonal (a future position, masked out).

    Register it as a buffer named ``causal_mask``: the capture recognises a masked fill with
    that buffer and records the GEMMs that work on the masked score blocks as causal.
    """
    return torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)


def scores_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last dimension, masked positions set to -inf first."""
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return scores.softmax(dim=-1)


def split_heads(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """[B, T, 3d] -> three [B, H, T, d/H] tensors."""
    b, t, three_d = qkv.shape
    qkv = qkv.reshape(b, t, 3, heads, three_d // (3 * heads)).permute(2, 0, 3, 1, 4)
    return qkv.unbind(0)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, T, hd] -> [B, T, H*hd]."""
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)


def check_heads(dim: int, heads: int) -> None:
    if dim % heads:
        raise ValueError(f"dim {dim} is not divisible by heads {heads}")

