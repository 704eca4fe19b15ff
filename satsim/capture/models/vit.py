"""ViT / DeiT-Tiny in timm's layout (``patch_embed``, ``blocks.N.attn.qkv``, ``head``)."""

from __future__ import annotations

import torch
from torch import nn

from satsim.capture.models.attention import attend, check_heads, merge_heads, split_heads
from satsim.capture.models.image_size import check_image_size


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens with one strided convolution (``proj``)."""

    def __init__(self, image_size: int, patch: int, dim: int):
        super().__init__()
        check_image_size("ViT", image_size, multiple=patch, why="the patch size")
        self.num_patches = (image_size // patch) ** 2
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, dim]


class ViTAttention(nn.Module):
    """Bidirectional multi-head self-attention: ``qkv`` and ``proj``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        check_heads(dim, heads)
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = split_heads(self.qkv(x), self.heads)
        return self.proj(merge_heads(attend(q, k, v)))


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
