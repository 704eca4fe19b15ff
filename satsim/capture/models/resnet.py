"""ResNets: torchvision's ResNet-18/50 and Page's DAWNBench ResNet-9 (CIFAR-10).

Module names follow torchvision (``layer1.0.conv1``, ``downsample.0``) and Page's ``conv_bn``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from satsim.capture.models.image_size import check_image_size

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


def resnet18_cifar(*, width: int = 64, layers: Sequence[int] = (2, 2, 2, 2),
                   num_classes: int = 10, image_size: int = 32) -> ResNet:
    """ResNet-18 for 3x32x32 inputs: 3x3 stride-1 stem, no max-pool, BasicBlocks.

    ``image_size`` only sizes the example input (:func:`satsim.capture.zoo.input_spec`): the
    strided convolutions round up and the average pool is adaptive, so any side works (64 for
    Tiny ImageNet).
    """
    check_image_size("resnet18-cifar", image_size)
    return ResNet(BasicBlock, layers, width=width, num_classes=num_classes, cifar_stem=True)


def resnet50_imagenet(*, width: int = 64, layers: Sequence[int] = (3, 4, 6, 3),
                      num_classes: int = 1000, image_size: int = 224) -> ResNet:
    """ResNet-50 v1.5 for 3x224x224 inputs; like :func:`resnet18_cifar`, any ``image_size``
    works (the 32x reduction rounds up, the average pool is adaptive)."""
    check_image_size("resnet50-imagenet", image_size)
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
    check_image_size("resnet9-cifar", image_size, minimum=8, why="three 2x2 max-pools")
    return ResNet9(width=width, num_classes=num_classes)

