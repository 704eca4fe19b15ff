"""VGG-16/19 with batch-norm: torchvision's ``features`` and a CIFAR classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from satsim.capture.models.image_size import check_image_size

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
        check_image_size(name, image_size, multiple=2**pools,
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

