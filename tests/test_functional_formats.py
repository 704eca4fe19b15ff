"""Number formats: round to nearest even from fp32, identical to torch's casts."""

import numpy as np
import pytest

from satsim.functional.formats import int8_scale, quantize_int8, round_to

TORCH_FORMATS = {"bf16": "bfloat16", "fp16": "float16", "fp8_e5m2": "float8_e5m2",
                 "fp8_e4m3": "float8_e4m3fn"}


def _samples() -> np.ndarray:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    return x[np.isfinite(x)]


@pytest.mark.parametrize("fmt", sorted(TORCH_FORMATS))
def test_rounding_matches_torch_bit_for_bit(fmt):
    """fp32 -> fmt equals torch's ``.to(dtype)`` on random bit patterns (every binade,
    subnormals, overflow: fp8-e4m3 saturates to ±448 as torch does)."""
    torch = pytest.importorskip("torch")
    x = _samples()
    expected = torch.from_numpy(x).to(getattr(torch, TORCH_FORMATS[fmt])).float().numpy()
    got = round_to(x, fmt)
    same = (got.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(got) & np.isnan(expected))
    assert same.all()


def test_e4m3_saturates():
    """Beyond the largest finite e4m3 value (448) the result is ±448, never NaN."""
    x = np.array([447.0, 460.0, 500.0, 1e30, np.inf, -np.inf], dtype=np.float32)
    assert round_to(x, "fp8_e4m3").tolist() == [448.0, 448.0, 448.0, 448.0, 448.0, -448.0]


def test_rounding_starts_from_fp32():
    """A float64 input is rounded to fp32 first (as a torch fp32 tensor holds it): a value
    just above a bf16 tie rounds like its fp32 neighbour, the tie, to even."""
    tie = 1.0 + 2.0**-8  # halfway between two bf16 values
    x = np.array([tie + 2.0**-40])  # above the tie in fp64, the tie itself in fp32
    assert round_to(x, "bf16")[0] == 1.0


def test_int8_symmetric_per_tensor():
    """The largest magnitude maps to ±127; rounding to nearest even."""
    x = np.array([-2.0, 0.5, 1.0, 2.0], dtype=np.float32)
    s = int8_scale(x)
    assert s == np.float32(2.0 / 127)
    assert quantize_int8(x, s).tolist() == [-127.0, 32.0, 64.0, 127.0]
