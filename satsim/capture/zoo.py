"""Hand-written model zoo: the networks whose training GEMMs satsim captures.

torchvision and timm are not dependencies, so every model is written with ``torch.nn`` alone.
Two rules make the models fit for capture:

* every weight GEMM is an ``nn.Conv2d`` or ``nn.Linear`` module, so the N:M layers can replace
  them module by module (no ``F.linear`` on raw parameters, no fused kernels);
* attention is written as explicit matmuls (``q @ k^T``, softmax, ``@ v``), never
  ``scaled_dot_product_attention``, so a ``TorchDispatchMode`` sees the two batched GEMMs.

Module names follow torchvision (ResNet, VGG), timm (ViT) and Hugging Face GPT-2, so a trace
reads ``layer1.0.conv1`` or ``h.3.attn.c_attn``. There is no dropout: captures are
deterministic and dropout has no GEMM. Every builder takes keyword options whose defaults are
the full-size model; smaller values give tiny variants for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from satsim.errors import SatsimError

# --------------------------------------------------------------------------------------------
# ResNet (torchvision layout)
# --------------------------------------------------------------------------------------------


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4); v1.5: the stride sits on the 3x3 convolution."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A torchvision-style ResNet with either an ImageNet or a CIFAR stem.

    Parameters
    ----------
    block
        :class:`BasicBlock` or :class:`Bottleneck`.
    layers
        Blocks per stage (four stages).
    width
        Channels of the stem and of the first stage; stage ``i`` has ``width * 2**i``.
    num_classes
        Outputs of ``fc``.
    cifar_stem
        ``True``: one 3x3 stride-1 stem convolution, no max-pool (32x32 inputs).
        ``False``: 7x7 stride-2 convolution and 3x3 stride-2 max-pool (224x224 inputs).
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int], *,
                 width: int = 64, num_classes: int = 1000, cifar_stem: bool = False):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet needs four stages, got layers={tuple(layers)}")
        self.inplanes = width
        if cifar_stem:
            self.conv1 = _conv3x3(3, width)
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0], stride=1)
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # Named downsample.0 / downsample.1 as in torchvision.
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _check_image_size(model: str, image_size: int, *, minimum: int = 1, multiple: int = 1,
                      why: str = "") -> None:
    """:class:`SatsimError` unless ``image_size`` is at least ``minimum`` and a multiple of
    ``multiple``; ``why`` (the layers that need it) ends the message."""
    if image_size < minimum or image_size % multiple:
        need = f"at least {minimum}" if minimum > 1 else "positive"
        if multiple > 1:
            need = (f"{need} and a" if minimum > 1 else "a positive") + f" multiple of {multiple}"
        raise SatsimError(f"{model}: image_size {image_size} does not fit, it must be {need}"
                          + (f" ({why})" if why else ""))


def resnet18_cifar(*, width: int = 64, layers: Sequence[int] = (2, 2, 2, 2),
                   num_classes: int = 10, image_size: int = 32) -> ResNet:
    """ResNet-18 for 3x32x32 inputs: 3x3 stride-1 stem, no max-pool, BasicBlocks.

    ``image_size`` only sizes the example input (:func:`input_spec`): the strided convolutions
    round up and the average pool is adaptive, so any side works (64 for Tiny ImageNet).
    """
    _check_image_size("resnet18-cifar", image_size)
    return ResNet(BasicBlock, layers, width=width, num_classes=num_classes, cifar_stem=True)


def resnet50_imagenet(*, width: int = 64, layers: Sequence[int] = (3, 4, 6, 3),
                      num_classes: int = 1000, image_size: int = 224) -> ResNet:
    """ResNet-50 v1.5 for 3x224x224 inputs; like :func:`resnet18_cifar`, any ``image_size``
    works (the 32x reduction rounds up, the average pool is adaptive)."""
    _check_image_size("resnet50-imagenet", image_size)
    return ResNet(Bottleneck, layers, width=width, num_classes=num_classes, cifar_stem=False)


# --------------------------------------------------------------------------------------------
# ResNet-9 (David Page's DAWNBench CIFAR-10 network, as in Myrtle's "How to train your ResNet")
# --------------------------------------------------------------------------------------------


class ConvBNReLU(nn.Module):
    """``conv`` (3x3, no bias), ``bn``, ``relu``: Page's ``conv_bn``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv3x3(cin, cout)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class ResNet9Stage(nn.Module):
    """``conv``/``bn``/``relu``, a 2x2 ``pool``, then optionally ``x + res2(res1(x))``."""

    def __init__(self, cin: int, cout: int, residual: bool):
        super().__init__()
        self.conv = _conv3x3(cin, cout)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.res1 = ConvBNReLU(cout, cout) if residual else None
        self.res2 = ConvBNReLU(cout, cout) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv(x))))
        if self.res1 is None or self.res2 is None:
            return x
        return x + self.res2(self.res1(x))


class ResNet9(nn.Module):
    """The fast CIFAR ResNet-9: ``prep``, ``layer1`` (+ residual), ``layer2``, ``layer3``
    (+ residual), adaptive max-pool to 1x1, ``fc``, and the output scaled by ``scale``.

    Parameters
    ----------
    width
        Channels of ``prep``; the stages have ``2``, ``4`` and ``8`` times as many.
    num_classes
        Outputs of ``fc``.
    scale
        Multiplies the logits (Page's 0.125), a vector op after ``fc``.
    """

    def __init__(self, *, width: int = 64, num_classes: int = 10, scale: float = 0.125):
        super().__init__()
        self.prep = ConvBNReLU(3, width)  # the stem: the first conv, three input channels
        self.layer1 = ResNet9Stage(width, 2 * width, residual=True)
        self.layer2 = ResNet9Stage(2 * width, 4 * width, residual=False)
        self.layer3 = ResNet9Stage(4 * width, 8 * width, residual=True)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(8 * width, num_classes)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(torch.flatten(self.pool(x), 1)) * self.scale


def resnet9_cifar(*, width: int = 64, num_classes: int = 10, image_size: int = 32) -> ResNet9:
    """ResNet-9 for 3x32x32 inputs; the pool before ``fc`` is adaptive, so any ``image_size``
    that survives the three 2x2 max-pools (at least 8) works."""
    _check_image_size("resnet9-cifar", image_size, minimum=8, why="three 2x2 max-pools")
    return ResNet9(width=width, num_classes=num_classes)


# --------------------------------------------------------------------------------------------
# VGG (torchvision layout, CIFAR classifier)
# --------------------------------------------------------------------------------------------

VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                    512, 512, 512, "M", 512, 512, 512, "M")
VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                    512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class VGG(nn.Module):
    """VGG with batch-norm: ``features.N`` (conv, bn, relu, ... pool) and ``classifier.0``.

    The CIFAR form flattens the last feature map straight into one Linear layer, so the
    classifier's input is ``channels * (image_size // 32) ** 2`` (512 at 32x32). ``name``
    labels the :class:`SatsimError` raised for an ``image_size`` that is not a multiple of 32.
    """

    def __init__(self, cfg: Sequence[int | str], *, num_classes: int = 10,
                 image_size: int = 32, name: str = "VGG"):
        super().__init__()
        pools = sum(1 for v in cfg if v == "M")
        _check_image_size(name, image_size, multiple=2**pools,
                          why=f"{pools} 2x2 max-pools, then a flatten into the classifier")
        features: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                features.append(nn.MaxPool2d(2, stride=2))
            else:
                # torchvision keeps the conv bias even before batch-norm; so do we.
                features += [nn.Conv2d(cin, int(v), 3, padding=1), nn.BatchNorm2d(int(v)),
                             nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*features)
        side = image_size // 2**pools
        self.classifier = nn.Sequential(nn.Linear(cin * side * side, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _scaled(cfg: Sequence[int | str], width: int) -> list[int | str]:
    return [v if v == "M" else max(1, int(v) * width // 64) for v in cfg]


def vgg16_cifar(*, width: int = 64, num_classes: int = 10, image_size: int = 32) -> VGG:
    """VGG-16-BN for 32x32 inputs; ``width`` scales every stage (64 -> 64..512 channels).

    ``image_size`` must be a multiple of 32; the classifier then takes
    ``512 * (image_size // 32) ** 2`` inputs (2048 at 64x64).
    """
    return VGG(_scaled(VGG16_CFG, width), num_classes=num_classes, image_size=image_size,
               name="vgg16-cifar")


def vgg19_cifar(*, width: int = 64, num_classes: int = 10, image_size: int = 32) -> VGG:
    """VGG-19-BN for 32x32 inputs, as :func:`vgg16_cifar` with four convs in stages 3 to 5."""
    return VGG(_scaled(VGG19_CFG, width), num_classes=num_classes, image_size=image_size,
               name="vgg19-cifar")


# --------------------------------------------------------------------------------------------
# Attention shared by ViT and GPT-2
# --------------------------------------------------------------------------------------------


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention [B, H, T, hd] with explicit matmuls, so the two bmm ops are visible."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def _split_heads(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """[B, T, 3d] -> three [B, H, T, d/H] tensors."""
    b, t, three_d = qkv.shape
    qkv = qkv.reshape(b, t, 3, heads, three_d // (3 * heads)).permute(2, 0, 3, 1, 4)
    return qkv.unbind(0)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, T, hd] -> [B, T, H*hd]."""
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)


def _check_heads(dim: int, heads: int) -> None:
    if dim % heads:
        raise ValueError(f"dim {dim} is not divisible by heads {heads}")


# --------------------------------------------------------------------------------------------
# ViT / DeiT (timm layout)
# --------------------------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens with one strided convolution (``proj``)."""

    def __init__(self, image_size: int, patch: int, dim: int):
        super().__init__()
        _check_image_size("ViT", image_size, multiple=patch, why="the patch size")
        self.num_patches = (image_size // patch) ** 2
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, dim]


class ViTAttention(nn.Module):
    """Bidirectional multi-head self-attention: ``qkv`` and ``proj``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        _check_heads(dim, heads)
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = _split_heads(self.qkv(x), self.heads)
        return self.proj(_merge_heads(_attend(q, k, v)))


class Mlp(nn.Module):
    """``fc1``, GELU, ``fc2``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-LN transformer block: ``norm1``, ``attn``, ``norm2``, ``mlp``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = ViTAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT classifier on the cls token, with a learned position embedding (DeiT, no distill).

    Parameters
    ----------
    image_size, patch
        Square input side and patch side; tokens = ``(image_size // patch) ** 2 + 1``.
    dim, depth, heads, mlp_ratio
        Embedding width, blocks, attention heads, MLP hidden width over ``dim``.
    num_classes
        Outputs of ``head``.
    """

    def __init__(self, *, image_size: int = 224, patch: int = 16, dim: int = 192,
                 depth: int = 12, heads: int = 3, mlp_ratio: float = 4.0,
                 num_classes: int = 1000):
        super().__init__()
        self.patch_embed = PatchEmbed(image_size, patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, dim))
        self.blocks = nn.Sequential(*(ViTBlock(dim, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def vit_tiny(*, image_size: int = 224, patch: int = 16, dim: int = 192, depth: int = 12,
             heads: int = 3, mlp_ratio: float = 4.0,
             num_classes: int = 1000) -> VisionTransformer:
    """DeiT-Tiny (ViT-Ti/16): 224x224, patch 16, dim 192, depth 12, 3 heads."""
    return VisionTransformer(image_size=image_size, patch=patch, dim=dim, depth=depth,
                             heads=heads, mlp_ratio=mlp_ratio, num_classes=num_classes)


# --------------------------------------------------------------------------------------------
# GPT-2 (Hugging Face layout, Conv1D written as nn.Linear)
# --------------------------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: ``c_attn`` (d -> 3d) and ``c_proj``."""

    def __init__(self, dim: int, heads: int, context: int):
        super().__init__()
        _check_heads(dim, heads)
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        # True above the diagonal = a future position, masked out. Not saved in state_dict.
        mask = torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        q, k, v = _split_heads(self.c_attn(x), self.heads)
        return self.c_proj(_merge_heads(_attend(q, k, v, self.mask[:t, :t])))


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
    """

    def __init__(self, *, vocab: int = 50257, context: int = 1024, dim: int = 768,
                 layers: int = 12, heads: int = 12, tie_weights: bool = True):
        super().__init__()
        self.context = context
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
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def gpt2_small(*, vocab: int = 50257, context: int = 1024, dim: int = 768, layers: int = 12,
               heads: int = 12, tie_weights: bool = True) -> GPT2:
    """GPT-2 small (124M): 12 layers, d 768, 12 heads; ``lm_head`` tied to ``wte`` by default."""
    return GPT2(vocab=vocab, context=context, dim=dim, layers=layers, heads=heads,
                tie_weights=tie_weights)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


PAPER = "SAT paper (Fang et al., TCAD 2023)"


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry: how to build the model and what one full-size input sample looks like.

    ``input_shape`` is per sample: ``(C, H, W)`` for images, ``(seq_len,)`` for tokens.
    ``num_classes`` is the output width (the vocabulary for a language model). ``paper_name``
    is the name of the model this entry stands for among the five that the SAT paper (Fang et
    al., "Efficient N:M Sparse DNN Training Using Algorithm, Architecture, and Dataflow
    Co-Design", TCAD 2023) evaluates, or ``None`` for a model outside that evaluation.
    """

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    num_classes: int
    input_kind: Literal["image", "tokens"]
    description: str
    paper_name: str | None = None


# The SAT paper's five models first, in the paper's order, then the others. Every image model
# takes num_classes and image_size: num_classes=100 (CIFAR-100), num_classes=200 image_size=64
# (Tiny ImageNet).
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("resnet9-cifar", resnet9_cifar, (3, 32, 32), 10, "image",
                  "ResNet-9 (Page's DAWNBench net), CIFAR, 6.57M parameters", "ResNet-9"),
        ModelSpec("vit-tiny", vit_tiny, (3, 224, 224), 1000, "image",
                  "DeiT-Tiny (ViT-Ti/16), ImageNet, 5.7M parameters", "ViT"),
        ModelSpec("vgg19-cifar", vgg19_cifar, (3, 32, 32), 10, "image",
                  "VGG-19 with batch-norm, one Linear classifier, CIFAR, 20.0M parameters",
                  "VGG-19"),
        ModelSpec("resnet18-cifar", resnet18_cifar, (3, 32, 32), 10, "image",
                  "ResNet-18, CIFAR stem (3x3/1, no max-pool), 11.2M parameters", "ResNet-18"),
        ModelSpec("resnet50-imagenet", resnet50_imagenet, (3, 224, 224), 1000, "image",
                  "ResNet-50 v1.5 (stride on the 3x3), ImageNet, 25.6M parameters",
                  "ResNet-50"),
        ModelSpec("vgg16-cifar", vgg16_cifar, (3, 32, 32), 10, "image",
                  "VGG-16 with batch-norm, one Linear classifier, CIFAR, 14.7M parameters"),
        ModelSpec("gpt2-small", gpt2_small, (1024,), 50257, "tokens",
                  "GPT-2 small, causal, tied lm_head, 124M parameters"),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The registry entry called ``name``; :class:`SatsimError` if there is none."""
    try:
        return MODELS[name]
    except KeyError:
        raise SatsimError(f"unknown model {name!r} (models: {', '.join(MODELS)})") from None


def build_model(name: str, **options: Any) -> nn.Module:
    """Build zoo model ``name``; ``options`` go to its builder (full size by default)."""
    return get_spec(name).build(**options)


def input_spec(spec: ModelSpec | str, **options: Any) -> tuple[tuple[int, ...], int]:
    """Per-sample input shape and class count (the vocabulary, for tokens) of a variant.

    Images are ``[C, S, S]`` with ``S = options["image_size"]`` if given. Tokens are ``[T]``
    with ``T = options["seq"]``, else ``options["context"]``, else the full context. Other
    options (``width``, ``depth`` ...) are ignored, so one dict serves the builder and this.
    """
    if isinstance(spec, str):
        spec = get_spec(spec)
    if spec.input_kind == "tokens":
        context = int(options.get("context", spec.input_shape[0]))
        seq = int(options.get("seq", context))
        if not 0 < seq <= context:
            raise SatsimError(f"seq {seq} must be in 1..{context} (the context)")
        return (seq,), int(options.get("vocab", spec.num_classes))
    channels, *side = spec.input_shape
    size = int(options.get("image_size", side[0]))
    return (channels, size, size), int(options.get("num_classes", spec.num_classes))


def example_input(spec: ModelSpec | str, batch: int = 1, *, seed: int = 0,
                  **options: Any) -> torch.Tensor:
    """A random input batch for ``spec``, shaped for the variant ``options`` describe
    (see :func:`input_spec`): standard-normal images or uniform token ids."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    shape, classes = input_spec(spec, **options)
    gen = torch.Generator().manual_seed(seed)
    if spec.input_kind == "tokens":
        return torch.randint(0, classes, (batch, *shape), generator=gen)
    return torch.randn(batch, *shape, generator=gen)
