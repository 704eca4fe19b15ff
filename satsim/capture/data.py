"""Training data that needs no download: scikit-learn's digits, or synthetic inputs."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F  # noqa: N812


def digits(size: int = 32, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 8x8 digits, bilinearly upsampled to 3 x size x size and standardised.

    The first 1,500 images are the training split, the rest the test split.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = ((images - 0.5) / 0.5).expand(-1, 3, -1, -1).contiguous()
    labels = torch.tensor(bunch.target, dtype=torch.long)
    split = slice(0, 1500) if train else slice(1500, None)
    return images[split], labels[split]


def digit_batches(batch: int, seed: int, size: int = 32) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless shuffled training batches of the digits (a new permutation every epoch)."""
    images, labels = digits(size, train=True)
    gen = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(labels), generator=gen)
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start:start + batch]
            yield images[idx], labels[idx]


def synthetic_batches(input_shape: tuple[int, ...], kind: str, classes: int, batch: int,
                      seed: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless random batches: Gaussian images with random labels, or random token ids
    whose targets are the next token."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        if kind == "tokens":
            tokens = torch.randint(0, classes, (batch, input_shape[0] + 1), generator=gen)
            yield tokens[:, :-1], tokens[:, 1:]
        else:
            yield (torch.randn((batch, *input_shape), generator=gen),
                   torch.randint(0, classes, (batch,), generator=gen))
