"""The K-scaled error bound of a GEMM result and the comparison of two tensors against it.

Per element, for a sum of K products accumulated in a format of unit roundoff ``u``::

    bound = 2·K·u·(|A|@|B| + |bias|)  (+ one ulp of the output format at the larger of the
                                         two compared values, if the output is rounded)
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from satsim.functional.checks import Comparison
from satsim.functional.formats import FLOAT_DTYPES


def _unit_roundoff(fmt: str) -> float:
    if fmt in ("fp32", "int32"):
        return 2.0**-24
    return float(ml_dtypes.finfo(FLOAT_DTYPES[fmt]).eps) / 2


def _ulp(x: np.ndarray, fmt: str) -> np.ndarray:
    """One ulp of ``fmt`` at the magnitude of ``x`` (the subnormal spacing at least)."""
    info = ml_dtypes.finfo(FLOAT_DTYPES[fmt])
    mag = np.abs(x).astype(np.float64)
    with np.errstate(divide="ignore"):
        exp = np.floor(np.log2(np.maximum(mag, float(info.smallest_normal))))
    return np.exp2(exp) * float(info.eps)


def k_scaled(magnitude: np.ndarray, terms: int, accumulate: str) -> np.ndarray:
    """The bound's K-scaled part per element, ``2·terms·u·magnitude`` with ``u`` the unit
    roundoff of the ``accumulate`` format, fp32's at least (:func:`comparison` adds the output
    format's ulp)."""
    return 2 * terms * max(_unit_roundoff(accumulate), 2.0**-24) * magnitude


def comparison(x: np.ndarray, y: np.ndarray, scaled: np.ndarray, fmt: str) -> Comparison:
    """``x`` against ``y`` per element (NaN counts as an infinite error) against the bound:
    ``scaled``, plus one ulp of ``fmt`` at the larger of ``|x|`` and ``|y|`` when ``fmt`` is a
    rounded output format. The bound depends on the two compared tensors alone, so a wrong
    element of a third cannot widen it."""
    with np.errstate(invalid="ignore"):
        err = np.where(x == y, 0.0, np.abs(x.astype(np.float64) - y.astype(np.float64)))
    err = np.where(np.isnan(err), np.inf, err)
    bound = scaled if fmt == "fp32" else scaled + _ulp(np.maximum(np.abs(x), np.abs(y)), fmt)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, err / bound, np.where(err > 0, np.inf, 0.0))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)  # an infinite error over an infinite ulp
    same = x.astype(np.float32).view(np.uint32) == y.astype(np.float32).view(np.uint32)
    return Comparison(float(err.max(initial=0.0)), float(ratio.max(initial=0.0)),
                      float(same.mean()) if same.size else 1.0)

