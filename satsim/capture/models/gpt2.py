"""GPT-2 small in Hugging Face's layout (``wte``, ``h.N.attn.c_attn``, ``lm_head``), its Conv1D
written as ``nn.Linear``."""

from __future__ import annotations

import torch
from torch import nn

from satsim.capture.models.attention import (
    attend,
    causal_mask,
    check_heads,
    merge_heads,
    split_heads,
)
from satsim.capture.models.checkpointing import run_blocks


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: ``c_attn`` (d -> 3d) and ``c_proj``."""

    def __init__(self, dim: int, heads: int, context: int):
        super().__init__()
        check_heads(dim, heads)
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        # Not saved in state_dict.
        self.register_buffer("causal_mask", causal_mask(context), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        q, k, v = split_heads(self.c_attn(x), self.heads)
        return self.c_proj(merge_heads(attend(q, k, v, self.causal_mask[:t, :t])))


class GPT2Mlp(nn.Module):
    """``c_fc`` (d -> 4d), tanh-GELU, ``c_proj``."""

    def __init__(self, dim: int):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    """Pre-LN decoder block: ``ln_1``, ``attn``, ``ln_2``, ``mlp``."""

    def __init__(self, dim: int, heads: int, context: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, context)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = GPT2Mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """GPT-2 language model: token ids [B, T] -> logits [B, T, vocab].

    Parameters
    ----------
    vocab, context
        Vocabulary size and maximum sequence length (rows of ``wte`` and ``wpe``).
    dim, layers, heads
        Model width, decoder blocks ``h.N`` and attention heads.
    tie_weights
        ``True`` (GPT-2's choice, the default): ``lm_head.weight`` *is* ``wte.weight``, one
        parameter shared by the embedding and the output projection, counted once by
        ``parameters()``. A module swap that replaces ``lm_head`` must re-tie it or untie on
        purpose; ``False`` gives ``lm_head`` its own weight.
    checkpoint
        Activation checkpointing: each block keeps only its input and recomputes its forward
        in the backward pass (:func:`~satsim.capture.models.checkpointing.run_blocks`).
    """

    def __init__(self, *, vocab: int = 50257, context: int = 1024, dim: int = 768,
                 layers: int = 12, heads: int = 12, tie_weights: bool = True,
                 checkpoint: bool = False):
        super().__init__()
        self.context, self.checkpoint = context, checkpoint
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(context, dim)
        self.h = nn.ModuleList(GPT2Block(dim, heads, context) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        if tie_weights:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.context:
            raise ValueError(f"sequence of {t} tokens exceeds the context of {self.context}")
        pos = torch.arange(t, device=idx.device)
        x = run_blocks(self.h, self.wte(idx) + self.wpe(pos), self.checkpoint)
        return self.lm_head(self.ln_f(x))


def gpt2_small(*, vocab: int = 50257, context: int = 1024, dim: int = 768, layers: int = 12,
               heads: int = 12, tie_weights: bool = True, checkpoint: bool = False) -> GPT2:
    """GPT-2 small (124M): 12 layers, d 768, 12 heads; ``lm_head`` tied to ``wte`` by default;
    ``checkpoint``: activation checkpointing of every block."""
    return GPT2(vocab=vocab, context=context, dim=dim, layers=layers, heads=heads,
                tie_weights=tie_weights, checkpoint=checkpoint)
