"""Does every zoo model capture in bf16 and fp16 on this CPU, and which kernels run?

    python benchmarks/check_precision.py [--batch 2] [--models vgg19-cifar,gpt2-small]
    python benchmarks/check_precision.py --rounding-only

For each zoo model x {bf16, fp16} x {dense, bdwp 2:8}: one real traced step (``steps=1``;
GPT-2 at 128 tokens), under the profiler. Prints, per capture, the seconds it took next to
fp32, whether the loss is finite, whether every GEMM ran in the 16-bit format, whether the
records are the fp32 capture's apart from dtypes and casts, and the reference kernels torch
fell back to (``_slow_conv2d*``: per-sample im2col GEMMs summed in fp32 but stored in the
16-bit format, their kernel taps or samples then added in it).

Then, per 16-bit format, for a GEMM and a convolution's FF, BP and WG: which kernel torch ran,
how often its results are correctly rounded (equal to the exact result: the same operands
summed exactly, rounded once; ``satsim.functional.exact``), how often fp32 sums of the same
operands rounded once are, how much of torch's result the emulation of slow_conv2d's
16-bit sums (``satsim.functional.slowconv``) reproduces bit for bit, and how many of its
elements lie outside what that kernel gives in any fp32 summation order
(``slowconv.enclosure``).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from satsim.capture.capture import CaptureSpec, capture
from satsim.capture.zoo import MODELS
from satsim.functional import im2col, slowconv
from satsim.functional.exact import exact_gemm
from satsim.functional.formats import round_to
from satsim.trace.schema import ConvParams, GemmOp
from satsim.types import NMPattern, Phase

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
    """torch's 16-bit results against the exact ones, and the slow_conv2d emulation."""
    gen = torch.Generator().manual_seed(0)
    conv = ConvParams(batch=8, in_channels=64, out_channels=64, height=16, width=16,
                      kernel=(3, 3), padding=(1, 1))
    print("\n| format | op | torch ran | torch correctly rounded | fp32 sums rounded once "
          "correctly rounded | slow_conv2d emulation = torch | torch outside slow_conv2d's "
          "range |\n|---|---|---|---|---|---|---|")
    for precision, dtype in DTYPES.items():
        low = getattr(torch, dtype)
        a = torch.randn(256, 1024, generator=gen).to(low)
        b = torch.randn(1024, 256, generator=gen).to(low)
        x = torch.randn(8, 64, 16, 16, generator=gen).to(low)
        w = torch.randn(64, 64, 3, 3, generator=gen).to(low)
        dy = torch.randn(8, 64, 16, 16, generator=gen).to(low)
        x32, w32, dy32 = (t.float().numpy() for t in (x, w, dy))
        (dx, dw), bwd_ran = profiled(conv_backward, dy, x, w)
        dx32, dw32 = conv_backward(dy.float(), x.float(), w.float())
        y, ff_ran = profiled(torch.conv2d, x, w, padding=1)
        c, mm_ran = profiled(torch.matmul, a, b)
        cases = {  # op: (lowered A, B, torch's result, fp32 result, phase, what torch ran)
            "mm": (a.float().numpy(), b.float().numpy(), c.float().numpy(),
                   (a.float() @ b.float()).numpy(), None, mm_ran),
            "conv FF": (*im2col.ff_operands(x32, w32, conv), rows(y),
                        rows(torch.conv2d(x.float(), w.float(), padding=1)), None, ff_ran),
            "conv BP (dX)": (*im2col.bp_operands(dy32, w32, conv), rows(dx), rows(dx32),
                             Phase.BP, bwd_ran),
            "conv WG (dW)": (*im2col.wg_operands(dy32, x32, conv), dw_rows(dw),
                             dw_rows(dw32), Phase.WG, bwd_ran),
        }
        for op, (lhs, rhs, out, out32, phase, ran) in cases.items():
            exact = exact_gemm(lhs, rhs, precision).values
            once = round_to(out32, precision)
            emulated = outside = "-"
            if phase is not None:
                emulated = f"{np.mean(slowconv.grad(phase, lhs, rhs, conv, precision) == out):.3%}"
                lo, hi = slowconv.enclosure(phase, lhs, rhs, conv, precision)
                outside = f"{np.sum(~((lo <= out) & (out <= hi))):,} of {out.size:,}"
            print(f"| {precision} | {op} | {ran} | {np.mean(out == exact):.3%} | "
                  f"{np.mean(once == exact):.3%} | {emulated} | {outside} |", flush=True)


def conv_backward(dy, x, w):
    """dX and dW of a 3x3, stride-1, padding-1 convolution."""
    dx, dw, _ = torch.ops.aten.convolution_backward(
        dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False])
    return dx, dw


def rows(t) -> np.ndarray:
    """An NCHW activation or gradient in the GEMM layout [(n, h, w), C]."""
    return t.float().numpy().transpose(0, 2, 3, 1).reshape(-1, t.shape[1])


def dw_rows(t) -> np.ndarray:
    """A weight gradient [C_out, C, kh, kw] in WG's GEMM layout [C_out, (i, j, c)]."""
    return t.float().numpy().transpose(0, 2, 3, 1).reshape(t.shape[0], -1)


def profiled(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the convolution or matmul kernels torch ran for it."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        out = fn(*args, **kwargs)
    names = sorted({e.key.removeprefix("aten::") for e in prof.key_averages()
                    if any(s in e.key for s in ("slow_conv", "mkldnn", "onednn", "mm"))})
    return out, ", ".join(names) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--models", help="comma-separated subset of the zoo")
    parser.add_argument("--rounding-only", action="store_true",
                        help="only the rounding table (no captures)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.rounding_only:
        rounding()
        return
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
