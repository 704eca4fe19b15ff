"""Lower a trace's GEMM op to the GEMM(s) the array actually runs.

Most ops run as recorded. The exception is the data gradient (BP) of a strided convolution,
which a trace records in its zero-inserted form (``M = B·H·W``, ``K = C_out·kh·kw``: the
transposed convolution over the output gradient dilated by the stride). Two accelerators can
run it (``conv.strided_bp`` of the hardware config):

* ``zero_insert``: one GEMM over the dilated gradient, as recorded. Of every ``s²`` products
  ``s² − 1`` multiply an inserted zero, so BP costs ``s²`` times the forward's MACs.
* ``decompose``: one sub-GEMM per stride phase ``(rh, rw)``. Input positions ``h ≡ rh (mod s)``
  receive gradient only through the taps ``i`` with ``i·d − p ≡ rh (mod s)``, so the phase is a
  stride-1 GEMM with ``M = B·H_rh·W_rw`` and ``K = C_out·|taps_rh|·|taps_rw|`` that reads the
  undilated gradient. When the strides tile the padded input exactly (every ResNet, VGG and
  ViT layer) the phases together execute exactly the forward's MACs; phases that no tap reaches
  (e.g. odd positions of a 1x1 stride-2 conv) hold zero gradient and run no GEMM.

K keeps C_out fastest within a tap, so BDWP's BP groups (along C_out) stay whole groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from satsim.trace.schema import ConvParams, GemmOp
from satsim.types import Phase


class Lowering(StrEnum):
    """How an op became the GEMM(s) the array runs."""

    DIRECT = "direct"  # as recorded
    ZERO_INSERT = "zero_insert"  # strided conv BP over the zero-inserted gradient
    DECOMPOSE = "decompose"  # strided conv BP as one sub-GEMM per stride phase


@dataclass(frozen=True)
class GemmShape:
    """``batch`` x ``C[M, N] = A[M, K] @ B[K, N]``, weight (if any) as operand B."""

    m: int
    k: int
    n: int
    batch: int = 1

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.k * self.n


def phase_taps(size: int, kernel: int, stride: int, padding: int,
               dilation: int) -> dict[int, tuple[int, list[int]]]:
    """Stride phases ``r`` of one axis that some tap reaches: ``r -> (positions, taps)``.

    Tap ``i`` of output ``o`` touches input ``h = o·stride + i·dilation − padding``, so it only
    ever reaches the phase ``(i·dilation − padding) mod stride``; the phase holds the
    ``len(range(r, size, stride))`` input positions ``h ≡ r``. Phases no tap reaches are left
    out: their gradient is zero and needs no GEMM.
    """
    phases: dict[int, tuple[int, list[int]]] = {}
    for i in range(kernel):
        r = (i * dilation - padding) % stride
        phases.setdefault(r, (len(range(r, size, stride)), []))[1].append(i)
    return dict(sorted(phases.items()))


def decompose_bp(conv: ConvParams) -> list[GemmShape]:
    """The stride-phase sub-GEMMs of a convolution's data gradient (see the module doc)."""
    g = conv.groups
    cin, cout = conv.in_channels // g, conv.out_channels // g
    rows = phase_taps(conv.height, conv.kernel[0], conv.stride[0], conv.padding[0],
                      conv.dilation[0])
    cols = phase_taps(conv.width, conv.kernel[1], conv.stride[1], conv.padding[1],
                      conv.dilation[1])
    return [GemmShape(m=conv.batch * h * w, k=cout * len(th) * len(tw), n=cin, batch=g)
            for h, th in rows.values() for w, tw in cols.values() if h and w]


def lower(op: GemmOp, strided_bp: str) -> tuple[Lowering, tuple[GemmShape, ...]]:
    """The GEMMs that run ``op``, weight operand as B (an op with weight A runs transposed)."""
    m, n = (op.N, op.M) if op.weight == "A" else (op.M, op.N)
    recorded = (GemmShape(m, op.K, n, op.batch),)
    conv = op.conv
    if op.phase is not Phase.BP or conv is None or conv.stride == (1, 1):
        return Lowering.DIRECT, recorded
    if Lowering(strided_bp) is Lowering.ZERO_INSERT:
        return Lowering.ZERO_INSERT, recorded
    return Lowering.DECOMPOSE, tuple(decompose_bp(conv))
