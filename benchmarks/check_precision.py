"""Does every zoo model capture in bf16 and fp16 on this CPU, and which kernels run?

    python benchmarks/check_precision.py [--batch 2] [--models vgg19-cifar,gpt2-small]

For each zoo model x {bf16, fp16} x {dense, bdwp 2:8}: one real traced step (``steps=1``;
GPT-2 at 128 tokens), under the profiler. Prints, per capture, the seconds it took next to
fp32, whether the loss is finite, whether every GEMM ran in the 16-bit format, whether the
records are the fp32 capture's apart from dtypes and casts, and the reference kernels torch
fell back to (``_slow_conv2d*``: im2col GEMMs summed in the 16-bit format). Then, per
16-bit format, how often torch's GEMM and convolution results equal the fp32 result rounded
once (a datapath with fp32 accumulation) and how often they are more than one ulp away.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.profiler import ProfilerActivity, profile

from satsim.capture.capture import CaptureSpec, capture
from satsim.capture.zoo import MODELS
from satsim.trace.schema import GemmOp
from satsim.types import NMPattern

DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
SLOW = ("_slow_conv2d", "slow_conv")  # reference kernels without a fused 16-bit path


def shape_of(trace) -> list[tuple]:
    """The GEMMs' shapes, phases and sparsity: what must not depend on the precision."""
    return [(g.phase, g.layer, g.M, g.K, g.N, g.batch, g.sparsity) for g in trace.gemms]


def run(spec: CaptureSpec):
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trace = capture(spec)
    slow = sorted({e.key.removeprefix("aten::") for e in prof.key_averages()
                   if any(s in e.key for s in SLOW)})
    return trace, time.perf_counter() - start, slow


def rounding() -> None:
    """Single rounding of fp32-accumulated results: torch's 16-bit kernels against it."""
    gen = torch.Generator().manual_seed(0)
    print("\n| format | op | equal to fp32 rounded once | > 1 ulp away |\n|---|---|---|---|")
    for precision, dtype in DTYPES.items():
        low = getattr(torch, dtype)
        a = torch.randn(256, 1024, generator=gen).to(low)
        b = torch.randn(1024, 256, generator=gen).to(low)
        x = torch.randn(8, 64, 16, 16, generator=gen).to(low)
        w = torch.randn(64, 64, 3, 3, generator=gen).to(low)
        dy = torch.randn(8, 64, 16, 16, generator=gen).to(low)

        def conv_bwd(dy, x, w):
            return torch.ops.aten.convolution_backward(
                dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False])

        cases = {"mm": (a @ b, (a.float() @ b.float()).to(low)),
                 "conv FF": (torch.conv2d(x, w, padding=1),
                             torch.conv2d(x.float(), w.float(), padding=1).to(low))}
        got, ref = conv_bwd(dy, x, w), conv_bwd(dy.float(), x.float(), w.float())
        cases["conv BP (dX)"] = (got[0], ref[0].to(low))
        cases["conv WG (dW)"] = (got[1], ref[1].to(low))
        for op, (out, ref) in cases.items():
            ulps = (out.view(torch.int16).int() - ref.view(torch.int16).int()).abs()
            print(f"| {precision} | {op} | {(ulps == 0).float().mean():.2%} | "
                  f"{(ulps > 1).float().mean():.2%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--models", help="comma-separated subset of the zoo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = args.models.split(",") if args.models else list(MODELS)
    print("| model | method | precision | s (fp32 s) | loss finite | GEMMs 16-bit | "
          "GEMMs as fp32 | fallback kernels |\n|---|---|---|---|---|---|---|---|", flush=True)
    for model in models:
        options = {"seq": 128} if model.startswith("gpt2") else {}
        for method in ("dense", "bdwp"):
            nm = None if method == "dense" else NMPattern(2, 8)
            base = CaptureSpec(model=model, method=method, nm=nm, batch=args.batch, steps=1,
                               options=options)
            ref, ref_s, _ = run(base)
            for precision, dtype in DTYPES.items():
                spec = CaptureSpec(**{**base.__dict__, "precision": precision})
                trace, seconds, slow = run(spec)
                loss = trace.header.meta["losses"]
                finite = bool(loss) and all(math.isfinite(v) for v in loss)
                low = all(g.dtype == dtype for g in trace.records if isinstance(g, GemmOp))
                same = shape_of(trace) == shape_of(ref)
                print(f"| {model} | {method} | {precision} | {seconds:.1f} ({ref_s:.1f}) | "
                      f"{'yes' if finite else 'NO'} | {'yes' if low else 'NO'} | "
                      f"{'yes' if same else 'NO'} | {', '.join(slow) or '-'} |", flush=True)
    rounding()


if __name__ == "__main__":
    main()
