"""The zoo's networks, one module per family, written with ``torch.nn`` alone.

torchvision and timm are not dependencies. Two rules make the models fit for capture:

* every weight GEMM is an ``nn.Conv2d`` or ``nn.Linear`` module, so the N:M layers can replace
  them module by module (no ``F.linear`` on raw parameters, no fused kernels);
* attention is written as explicit matmuls (``q @ k^T``, softmax, ``@ v``), never
  ``scaled_dot_product_attention``, so a ``TorchDispatchMode`` sees the two batched GEMMs.

Module names follow torchvision (ResNet, VGG), timm (ViT) and Hugging Face GPT-2, so a trace
reads ``layer1.0.conv1`` or ``h.3.attn.c_attn``. There is no dropout: captures are
deterministic and dropout has no GEMM. Every builder takes keyword options whose defaults are
the full-size model; smaller values give tiny variants for tests.
"""
