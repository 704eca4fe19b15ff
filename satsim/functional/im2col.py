"""Convolutions as the GEMMs the array runs (implicit GEMM), with the layouts it streams.

Reduction index of a conv GEMM: **tap-major, channel fastest** (``k = (i·kw + j)·C + c``), so
an N:M group of m consecutive k is m channels at one tap: FF groups run along C_in, BP groups
along C_out, as the masks do. Output rows are ``(b, h, w)``, batch outermost.

* FF: ``Y[(b,ho,wo), co] = Σ X[b, c, ho·s + i·d − p, ...] · W[co, c, i, j]``.
* BP: ``dX[(b,h,w), ci] = Σ dY[b, co, ho, wo] · W[co, ci, i, j]`` over the taps with
  ``h = ho·s + i·d − p`` (the zero-inserted form; entries no ``ho`` reaches are zeros).
  A stride phase of ``lowering.decompose_bp`` is a subset of its rows and tap columns.
* WG: ``dW[co, (i,j,c)] = Σ_(b,ho,wo) dY[b, co, ho, wo] · X[b, c, ho·s + i·d − p, ...]``.
"""

from __future__ import annotations

import numpy as np

from satsim.mapping.lowering import phase_taps
from satsim.trace.schema import ConvParams


def _windows(x: np.ndarray, conv: ConvParams) -> np.ndarray:
    """``x`` [B, C, H, W] as [B, Ho, Wo, kh, kw, C]: the input under each tap of each output."""
    (ph, pw), (sh, sw), (dh, dw) = conv.padding, conv.stride, conv.dilation
    kh, kw = conv.kernel
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = conv.out_height, conv.out_width
    out = np.empty((x.shape[0], ho, wo, kh, kw, x.shape[1]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i * dh: i * dh + (ho - 1) * sh + 1: sh,
                            j * dw: j * dw + (wo - 1) * sw + 1: sw]
            out[:, :, :, i, j, :] = window.transpose(0, 2, 3, 1)
    return out


def ff_operands(x: np.ndarray, w: np.ndarray, conv: ConvParams) -> tuple[np.ndarray, np.ndarray]:
    """FF's ``A [B·Ho·Wo, kh·kw·C]`` and ``B [kh·kw·C, C_out]``."""
    a = _windows(x, conv).reshape(-1, conv.kernel[0] * conv.kernel[1] * x.shape[1])
    return a, ff_weight(w)


def ff_weight(w: np.ndarray) -> np.ndarray:
    """A weight-shaped tensor [C_out, C, kh, kw] as FF's B [(i,j,c), C_out] (masks too)."""
    return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])


def ff_result(c: np.ndarray, conv: ConvParams) -> np.ndarray:
    """FF's C [(b,ho,wo), C_out] as Y [B, C_out, Ho, Wo]."""
    return c.reshape(conv.batch, conv.out_height, conv.out_width, -1).transpose(0, 3, 1, 2)


def bp_weight(w: np.ndarray) -> np.ndarray:
    """A weight-shaped tensor as BP's B [(i,j,co), C_in] (masks too)."""
    return w.transpose(2, 3, 0, 1).reshape(-1, w.shape[1])


def bp_operands(dy: np.ndarray, w: np.ndarray, conv: ConvParams
                ) -> tuple[np.ndarray, np.ndarray]:
    """BP's zero-inserted ``A [B·H·W, kh·kw·C_out]`` and ``B [kh·kw·C_out, C_in]``."""
    (ph, pw), (sh, sw), (dh, dw) = conv.padding, conv.stride, conv.dilation
    kh, kw = conv.kernel
    batch, cout, ho, wo = dy.shape
    dy_t = dy.transpose(0, 2, 3, 1)
    a = np.zeros((batch, conv.height, conv.width, kh, kw, cout), dtype=dy.dtype)

    def reach(size: int, tap: int, stride: int, dil: int, pad: int, out: int):
        pos = np.arange(size)
        src = pos + pad - tap * dil
        ok = (src % stride == 0) & (src >= 0) & (src // stride < out)
        return pos[ok], src[ok] // stride

    for i in range(kh):
        hs, hos = reach(conv.height, i, sh, dh, ph, ho)
        for j in range(kw):
            ws, wos = reach(conv.width, j, sw, dw, pw, wo)
            a[:, hs[:, None], ws[None, :], i, j, :] = dy_t[:, hos[:, None], wos[None, :], :]
    return a.reshape(-1, kh * kw * cout), bp_weight(w)


def bp_phases(conv: ConvParams) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stride phases of ``decompose_bp``, in its order: (rows of the zero-inserted A,
    its K columns) of each sub-GEMM."""
    rows_h = phase_taps(conv.height, conv.kernel[0], conv.stride[0], conv.padding[0],
                        conv.dilation[0])
    rows_w = phase_taps(conv.width, conv.kernel[1], conv.stride[1], conv.padding[1],
                        conv.dilation[1])
    cout, kw = conv.out_channels // conv.groups, conv.kernel[1]
    grid = np.arange(conv.batch * conv.height * conv.width).reshape(
        conv.batch, conv.height, conv.width)
    found = []
    for rh, (h, taps_h) in rows_h.items():
        for rw, (w, taps_w) in rows_w.items():
            if not (h and w):
                continue
            rows = grid[:, rh::conv.stride[0], rw::conv.stride[1]].reshape(-1)
            taps = [i * kw + j for i in taps_h for j in taps_w]
            cols = (np.array(taps)[:, None] * cout + np.arange(cout)[None, :]).reshape(-1)
            found.append((rows, cols))
    return found


def bp_result(c: np.ndarray, conv: ConvParams) -> np.ndarray:
    """BP's C [(b,h,w), C_in] as dX [B, C_in, H, W]."""
    return c.reshape(conv.batch, conv.height, conv.width, -1).transpose(0, 3, 1, 2)


def wg_operands(dy: np.ndarray, x: np.ndarray, conv: ConvParams
                ) -> tuple[np.ndarray, np.ndarray]:
    """WG's ``A [C_out, B·Ho·Wo]`` and ``B [B·Ho·Wo, kh·kw·C]``."""
    a = dy.transpose(1, 0, 2, 3).reshape(dy.shape[1], -1)
    b = _windows(x, conv).reshape(a.shape[1], -1)
    return a, b


def wg_result(c: np.ndarray, conv: ConvParams) -> np.ndarray:
    """WG's C [C_out, (i,j,c)] as dW [C_out, C, kh, kw]."""
    kh, kw = conv.kernel
    return c.reshape(c.shape[0], kh, kw, -1).transpose(0, 3, 1, 2)
