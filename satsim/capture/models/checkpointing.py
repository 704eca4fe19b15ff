"""Activation checkpointing of decoder blocks, shared by GPT-2 and the LLaMA family."""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint


def run_blocks(blocks: torch.nn.ModuleList, x: torch.Tensor, recompute: bool) -> torch.Tensor:
    """Run ``x`` through ``blocks`` in turn; with ``recompute``, each block is checkpointed.

    A checkpointed block keeps only its input for the backward pass and runs its whole forward
    again when its backward needs the activations (``early_stop=False``: PyTorch's default
    stops the recomputation after the last activation the backward needs, which skips the
    block's last GEMM when it is a plain ``nn.Linear`` but not an N:M layer, whose autograd
    function saves its tensors after the GEMM; a full recompute does the same work for both).
    """
    for block in blocks:
        x = (checkpoint(block, x, use_reentrant=False, early_stop=False) if recompute
             else block(x))
    return x
