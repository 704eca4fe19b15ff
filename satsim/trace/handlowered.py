"""Networks lowered by hand to one training iteration's GEMMs (FF, then BP and WG in reverse).

An analytic lowering that needs no torch: it gives the benchmarks workloads of any batch,
and the tests an independent check of what ``satsim capture`` records. Weight layers are
marked prunable except the stem conv (3 input channels) and the classifier;
``method``/``pattern`` annotate the prunable ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.trace.lowering import conv_ops, linear_ops
from satsim.trace.schema import ConvParams, GemmOp, Trace, TraceHeader
from satsim.trace.workload import Method, annotate
from satsim.types import NMPattern, Phase

SAT_HEADLINE = NMPattern(2, 8)  # the paper's headline setting: BDWP at 2:8


@dataclass(frozen=True)
class _Layer:
    """One weight layer (conv or linear) or activation matmul, in forward order."""

    name: str
    forward: list[GemmOp]
    backward: list[GemmOp]


def _conv(name: str, batch: int, cin: int, cout: int, size: int, kernel: int, stride: int = 1,
          *, first: bool = False) -> _Layer:
    conv = ConvParams(batch=batch, in_channels=cin, out_channels=cout, height=size, width=size,
                      kernel=(kernel, kernel), stride=(stride, stride),
                      padding=(kernel // 2, kernel // 2))
    phases = (Phase.WG,) if first else (Phase.BP, Phase.WG)
    return _Layer(name, conv_ops(name, conv, phases=(Phase.FF,), prunable=not first),
                  conv_ops(name, conv, phases=phases, prunable=not first))


def _linear(name: str, tokens: int, fin: int, fout: int, *, prunable: bool = True) -> _Layer:
    ops = linear_ops(name, tokens, fin, fout, prunable=prunable)
    return _Layer(name, ops[:1], ops[1:])


def _iteration(name: str, layers: list[_Layer], meta: dict, method: Method,
               pattern: NMPattern | None) -> Trace:
    records = [op for layer in layers for op in layer.forward]
    records += [op for layer in reversed(layers) for op in layer.backward]
    header = TraceHeader(name=name, source="hand-lowered", meta=meta)
    return annotate(Trace(header=header, records=tuple(records)), method, pattern)


def resnet18_cifar(batch: int = 32, method: Method = Method.BDWP,
                   pattern: NMPattern | None = SAT_HEADLINE) -> Trace:
    """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool), 10 classes."""
    layers = [_conv("conv1", batch, 3, 64, 32, 3, first=True)]
    cin, size = 64, 32
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"layer{stage}.{block}"
            layers.append(_conv(f"{prefix}.conv1", batch, cin, cout, size, 3, stride))
            out = size // stride
            layers.append(_conv(f"{prefix}.conv2", batch, cout, cout, out, 3))
            if stride != 1 or cin != cout:
                layers.append(_conv(f"{prefix}.downsample.0", batch, cin, cout, size, 1, stride))
            cin, size = cout, out
    layers.append(_linear("fc", batch, 512, 10, prunable=False))
    meta = {"model": "resnet18-cifar", "batch": batch, "input": [3, 32, 32]}
    return _iteration("resnet18-cifar", layers, meta, method, pattern)


def resnet50_imagenet(batch: int = 32, method: Method = Method.BDWP,
                      pattern: NMPattern | None = SAT_HEADLINE) -> Trace:
    """ResNet-50 (v1.5: stride on the 3x3 conv) for 224x224 inputs, 1000 classes."""
    layers = [_conv("conv1", batch, 3, 64, 224, 7, 2, first=True)]
    cin, size = 64, 56  # after the 3x3/2 max-pool
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        cout = width * 4
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"layer{stage}.{block}"
            out = size // stride
            layers.append(_conv(f"{prefix}.conv1", batch, cin, width, size, 1))
            layers.append(_conv(f"{prefix}.conv2", batch, width, width, size, 3, stride))
            layers.append(_conv(f"{prefix}.conv3", batch, width, cout, out, 1))
            if block == 0:
                layers.append(_conv(f"{prefix}.downsample.0", batch, cin, cout, size, 1, stride))
            cin, size = cout, out
    layers.append(_linear("fc", batch, 2048, 1000, prunable=False))
    meta = {"model": "resnet50-imagenet", "batch": batch, "input": [3, 224, 224]}
    return _iteration("resnet50-imagenet", layers, meta, method, pattern)
