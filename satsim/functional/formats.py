"""Number formats of the datapath, as the hardware config's ``numerics`` names them.

Operands are rounded **from fp32** (a float64 input is first rounded to fp32, as the
captured tensors are) to nearest, ties to even, with ``ml_dtypes``. Values then travel as
float32 arrays that hold exactly representable values of their format, so one float32 kernel
serves every floating format.

* ``fp8_e4m3`` (e4m3fn: no infinities) **saturates**: a finite value beyond ±448 and ±inf
  become ±448, as torch's ``.to(torch.float8_e4m3fn)`` does (ml_dtypes alone would give NaN).
  ``fp8_e5m2`` overflows to ±inf (IEEE style, as torch and ml_dtypes do).
* ``int8`` is symmetric per tensor: ``q = rne(x / s)`` clipped to ±127 with the fp32 scale
  ``s = max|x| / 127`` (``s = 1`` for an all-zero tensor); it pairs with ``int32`` accumulation.

The PE arithmetic (:class:`Arithmetic`): a product is computed in fp32 (exact for operands of
16 bits or less) and rounded to the accumulate format; an addition is computed in fp32 and
rounded to the accumulate format. For fp32 accumulation that is plain IEEE fp32 arithmetic;
for narrower accumulators the fp32 step is exact or innocuous (24 >= 2p + 2 bits for fp16 and
bf16), so each operation is rounded once. Integer accumulation is exact in int32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import ml_dtypes
import numpy as np

from satsim.errors import SatsimError

FormatName = Literal["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32"]

FLOAT_DTYPES: dict[str, type] = {
    "fp32": np.float32,
    "fp16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "fp8_e4m3": ml_dtypes.float8_e4m3fn,
    "fp8_e5m2": ml_dtypes.float8_e5m2,
}
INTEGER = ("int8", "int32")
E4M3_MAX = 448.0
INT8_MAX = 127
INT32_MAX = 2**31 - 1
# Torch dtype names of dumped tensors -> our format names.
TORCH_NAMES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16",
               "float8_e4m3fn": "fp8_e4m3", "float8_e5m2": "fp8_e5m2"}


def round_to(x: np.ndarray, fmt: str) -> np.ndarray:
    """``x`` rounded to the floating format ``fmt`` (from fp32, ties to even), as float32.

    A float64 ``x`` is rounded to fp32 first: that is the value a torch fp32 tensor holds.
    """
    x32 = np.asarray(x, dtype=np.float32)
    if fmt == "fp32":
        return x32.copy()
    if fmt == "fp8_e4m3":
        x32 = np.clip(x32, -E4M3_MAX, E4M3_MAX)  # saturate (NaN stays NaN)
    with np.errstate(over="ignore"):  # overflow to ±inf is the format's rule (fp16, e5m2)
        return x32.astype(FLOAT_DTYPES[fmt]).astype(np.float32)


def round_once(x: np.ndarray, fmt: str) -> np.ndarray:
    """float64 ``x`` rounded once, directly, to the floating format ``fmt``, as float32.

    Unlike :func:`round_to` there is no fp32 step: the exact reference must not round twice.
    numpy and ml_dtypes convert float64 to every format directly, to nearest, ties to even
    (``tests/test_functional_exact.py`` checks it at the midpoints); fp8_e4m3 saturates at
    ±448 as in :func:`round_to`.
    """
    x64 = np.asarray(x, dtype=np.float64)
    if fmt == "fp8_e4m3":
        x64 = np.clip(x64, -E4M3_MAX, E4M3_MAX)
    with np.errstate(over="ignore"):
        return x64.astype(FLOAT_DTYPES[fmt]).astype(np.float32)


def int8_scale(x: np.ndarray) -> np.float32:
    """The symmetric per-tensor scale ``max|x| / 127`` in fp32 (1 for an all-zero tensor)."""
    peak = np.float32(np.max(np.abs(np.asarray(x, dtype=np.float32)), initial=0.0))
    return np.float32(peak / np.float32(INT8_MAX)) if peak > 0 else np.float32(1.0)


def quantize_int8(x: np.ndarray, scale: np.float32) -> np.ndarray:
    """``rne(x / scale)`` clipped to ±127, as float32 integers (the datapath's operand)."""
    q = np.rint(np.asarray(x, dtype=np.float32) / scale)
    return np.clip(q, -INT8_MAX, INT8_MAX).astype(np.float32)


@dataclass(frozen=True)
class Arithmetic:
    """What one PE computes: operand format in, products and sums in the accumulate format.

    Parameters
    ----------
    operand, accumulate
        Format names of ``numerics.operand`` and ``numerics.accumulate``.
    """

    operand: str
    accumulate: str

    def __post_init__(self) -> None:
        for field, value in (("operand", self.operand), ("accumulate", self.accumulate)):
            if value not in FLOAT_DTYPES and value not in INTEGER:
                raise SatsimError(f"unknown number format {value!r}", field=f"numerics.{field}")
        if (self.operand == "int8") != (self.accumulate == "int32"):
            raise SatsimError(
                f"int8 operands go with int32 accumulation (got {self.operand} operands, "
                f"{self.accumulate} accumulators)", field="numerics.accumulate")
        if self.operand == "int32":
            raise SatsimError("int32 is an accumulator format, not an operand format",
                              field="numerics.operand")

    @property
    def integer(self) -> bool:
        return self.accumulate == "int32"

    @property
    def native(self) -> bool:
        """Whether the accumulator is a machine type (fp32, int32): no rounding step needed."""
        return self.accumulate in ("fp32", "int32")

    def operands(self, x: np.ndarray) -> np.ndarray:
        """``x`` in the operand format (int8: already scaled integers, kept as they are)."""
        if self.integer:
            return np.asarray(x, dtype=np.float64)
        return round_to(x, self.operand)

    def round_acc(self, x: np.ndarray) -> np.ndarray:
        """A result rounded to the accumulate format (integers: exact, as float64)."""
        if self.integer:
            return np.asarray(x, dtype=np.float64)
        return round_to(x, self.accumulate)

    def _work(self, x: np.ndarray) -> np.ndarray:
        # Integers stay exact in float64 (|x| <= 2**31 by the caller's bound check).
        return np.asarray(x, dtype=np.float64 if self.integer else np.float32)

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Products rounded to the accumulate format (computed in fp32)."""
        with np.errstate(all="ignore"):
            return self.round_acc(self._work(a) * self._work(b))

    def add(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Sums rounded to the accumulate format (computed in fp32)."""
        with np.errstate(all="ignore"):
            return self.round_acc(self._work(x) + self._work(y))
