"""Read a capture's tensor dump (``TRACE.npz``): operands, results, masks, update tensors.

Keys are ``layer/PHASE/name`` (``docs/capture.md``); 16-bit floats are stored as raw uint16
bit patterns with a ``.dtype`` entry, masks bit-packed with a ``.shape`` entry. Every value
comes back as float32 (16-bit formats widen exactly).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np

from satsim.errors import SatsimError

_BITS = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
PHASE_NAMES = ("FF", "BP", "WG", "WU")


class Dump:
    """The arrays of one ``.npz`` dump, with errors that name the file and the key."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SatsimError("no tensor dump next to the trace (capture with --dump-tensors)",
                              source=self.path)
        try:
            self._npz = np.load(self.path, allow_pickle=False)
            self.keys = frozenset(self._npz.files)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise SatsimError(f"not a tensor dump: {exc}", source=self.path) from None

    def has(self, key: str) -> bool:
        return key in self.keys

    def _raw(self, key: str) -> np.ndarray:
        if key not in self.keys:
            raise SatsimError("missing tensor", source=self.path, field=key)
        try:
            return self._npz[key]
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise SatsimError(f"unreadable: {exc}", source=self.path, field=key) from None

    def dtype(self, key: str) -> str:
        """The torch dtype name the tensor had (``bfloat16``, ``float32``, ...)."""
        tag = f"{key}.dtype"
        return str(self._raw(tag)) if tag in self.keys else str(self._raw(key).dtype)

    def tensor(self, key: str) -> np.ndarray:
        """The tensor as float32 (16-bit formats decoded from their bit patterns)."""
        raw, dtype = self._raw(key), self.dtype(key)
        if dtype in _BITS:
            if raw.dtype != np.uint16:
                raise SatsimError(f"{dtype} must be stored as uint16 bit patterns, found "
                                  f"{raw.dtype}", source=self.path, field=key)
            return raw.view(_BITS[dtype]).astype(np.float32)
        if raw.dtype.kind != "f":
            raise SatsimError(f"expected a floating tensor, found {raw.dtype}",
                              source=self.path, field=key)
        return raw.astype(np.float32)

    def scalar(self, key: str) -> float:
        return float(self._raw(key))

    def mask(self, layer: str, direction: str) -> np.ndarray:
        """The boolean N:M mask of ``layer``'s weight for ``direction`` (FF or BP)."""
        key = f"{layer}/mask_{direction}"
        packed, shape = self._raw(key), tuple(int(s) for s in self._raw(f"{key}.shape"))
        count = int(np.prod(shape))
        if packed.dtype != np.uint8 or packed.size * 8 < count:
            raise SatsimError(f"packed mask too short for shape {list(shape)}",
                              source=self.path, field=key)
        return np.unpackbits(packed, count=count).astype(bool).reshape(shape)

    def layers(self) -> list[str]:
        """Layers with dumped tensors, in the order the dump lists them."""
        found: dict[str, None] = {}
        for key in self._npz.files:
            parts = key.split("/")
            if len(parts) >= 2 and (parts[1] in PHASE_NAMES or parts[1].startswith("mask_")):
                found[parts[0]] = None
        return list(found)
