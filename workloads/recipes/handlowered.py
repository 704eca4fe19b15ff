"""Regenerate the hand-lowered workloads shipped in workloads/ (BDWP 2:8 annotations).

    python workloads/recipes/handlowered.py

They stand in for captured traces until the capture issue replaces them.
"""

from pathlib import Path

from satsim.trace import write_trace
from satsim.trace.handlowered import gpt2_block, resnet18_cifar, resnet50_imagenet

HERE = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    for trace in (resnet18_cifar(batch=32), resnet50_imagenet(batch=32), gpt2_block()):
        path = write_trace(trace, HERE / f"{trace.name}.jsonl")
        print(f"{path.name}: {len(trace.records)} records, {path.stat().st_size / 1024:.1f} KiB")
