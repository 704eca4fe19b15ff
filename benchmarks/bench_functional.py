"""Speed of the functional model: validating one conv layer, and a large N:M GEMM.

    OMP_NUM_THREADS=1 python benchmarks/bench_functional.py [--repeat 5]

1. ``satsim validate`` (in process, JIT warm) of one ResNet-18 CIFAR conv layer captured at
   batch 8 in bf16: FF, BP and WG, plus its masks and update. Target (issue "functional"):
   <= 2 s. Needs torch for the capture (made once, in a temporary folder).
2. The datapath emulating a 1024 x 1024 x 1024 GEMM with 2:8 weights in the WS mapping of a
   32 x 32 array (bf16 operands, fp32 accumulation). Target: <= 3 s.

Prints medians of ``--repeat`` runs (after one warm-up run that compiles the numba kernel or
loads it from its cache).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from satsim.functional.datapath import emulate, store
from satsim.functional.formats import Arithmetic
from satsim.types import NMPattern, Stationarity

LAYER = "layer2.0.conv2"  # 128 -> 128 channels, 3x3, 16x16: a mid-network conv


def _median(fn, repeat: int) -> float:
    fn()  # warm-up: JIT or cache load, first-touch memory
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_gemm(repeat: int) -> float:
    rng = np.random.default_rng(0)
    arith = Arithmetic("bf16", "fp32")
    a = arith.operands(rng.standard_normal((1024, 1024)))
    b = arith.operands(rng.standard_normal((1024, 1024)))

    def once() -> None:
        emulate(a, store(b, NMPattern(2, 8)), stationarity=Stationarity.WS, rows=32,
                arith=arith)

    return _median(once, repeat)


def bench_validate(repeat: int, folder: Path) -> tuple[float, int]:
    from satsim.api import validate
    from satsim.capture.capture import CaptureSpec, capture
    from satsim.trace import write_trace

    out = folder / "r18.jsonl"
    spec = CaptureSpec(model="resnet18-cifar", method="bdwp", nm=NMPattern(2, 8), batch=8,
                       steps=2, precision="bf16")
    write_trace(capture(spec, dump_layers=(LAYER,), dump_path=out.with_suffix(".npz")), out)
    checks = []

    def once() -> None:
        result = validate(out, "sat", overrides=["numerics.operand=bf16"])
        assert result.passed, result.text()
        checks[:] = result.checks

    return _median(once, repeat), len(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    gemm = bench_gemm(args.repeat)
    print(f"| 1024x1024x1024 GEMM, 2:8, WS on 32x32, bf16/fp32 | {gemm:.2f} s | <= 3 s |")
    with tempfile.TemporaryDirectory() as folder:
        seconds, checks = bench_validate(args.repeat, Path(folder))
    print(f"| validate {LAYER} (batch 8, bf16): FF, BP, WG + {checks - 3} mask/update checks "
          f"| {seconds:.2f} s | <= 2 s |")


if __name__ == "__main__":
    main()
