"""Test accuracy of dense vs SR-STE vs BDWP N:M training on scikit-learn's digits.

    python benchmarks/accuracy_digits.py [--epochs 4] [--width 16] [--seed 0]

Trains ResNet-18 (CIFAR layout; ``--width`` is the first stage's channels, 64 = full size) on
the 1,500 training digits upsampled to 3x32x32 and reports accuracy on the 297 held-out ones.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F  # noqa: N812

from satsim.capture.data import digit_batches, digits
from satsim.capture.nm import sparsify
from satsim.capture.zoo import build_model

RUNS = [("dense", None), ("srste", (2, 4)), ("bdwp", (2, 4)), ("srste", (2, 8)), ("bdwp", (2, 8))]


def train_and_test(method: str, nm, epochs: int, width: int, seed: int, batch: int = 32):
    torch.manual_seed(seed)
    model = build_model("resnet18-cifar", width=width)
    n, m = nm or (1, 2)
    sparsify(model, method, n, m, skip=["fc"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    steps = epochs * (1500 // batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    batches = digit_batches(batch, seed)
    model.train()
    for _ in range(steps):
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        schedule.step()
    model.eval()
    x, y = digits(train=False)
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--width", type=int, default=16, help="first-stage channels (64: full)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"ResNet-18 (width {args.width}), digits 3x32x32, {args.epochs} epochs, batch 32, "
          f"seed {args.seed}")
    print(f"{'method':<8}{'N:M':>6}{'test accuracy':>16}{'time s':>9}")
    for method, nm in RUNS:
        start = time.perf_counter()
        acc = train_and_test(method, nm, args.epochs, args.width, args.seed)
        label = f"{nm[0]}:{nm[1]}" if nm else "-"
        print(f"{method:<8}{label:>6}{acc:>15.1%}{time.perf_counter() - start:>9.1f}")


if __name__ == "__main__":
    main()
