"""What the tracer knows of aten ops: the GEMMs, the vector ops' record names, the ops that only
create tensors, and the arguments an op writes in place."""

from __future__ import annotations

import torch
from torch.utils._pytree import tree_leaves

aten = torch.ops.aten

GEMMS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
# Record names for the aten ops a training accelerator's vector unit runs; any other op is
# recorded under its own name.
VECTOR = {
    "relu": "relu", "threshold_backward": "relu", "gelu": "gelu", "gelu_backward": "gelu",
    "silu": "silu", "silu_backward": "silu",
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
CREATE = {"empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like",
           "full", "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "arange",
           "scalar_tensor", "fill"}


def written_in_place(func, args, kwargs) -> list[torch.Tensor]:
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
