"""Small value types for the domain's words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    """Where an op sits in a training iteration."""

    FF = "FF"  # forward
    BP = "BP"  # backward, data gradient
    WG = "WG"  # backward, weight gradient
    WU = "WU"  # weight update (the WUVE)
    MASK = "MASK"  # N:M mask / sparse-weight generation (the SORE)
    VEC = "VEC"  # vector work outside the array: norms, activations, pooling, losses


class Method(StrEnum):
    """How a training method prunes the weight operand of each phase."""

    BDWP = "bdwp"  # FF and BP N:M (two masks)
    SRSTE = "srste"  # FF only
    DENSE = "dense"

    def sparse_phases(self) -> frozenset[Phase]:
        return {Method.BDWP: frozenset({Phase.FF, Phase.BP}),
                Method.SRSTE: frozenset({Phase.FF}),
                Method.DENSE: frozenset()}[self]


class Stationarity(StrEnum):
    """Which operand stays in the PEs while the other streams through."""

    OS = "os"  # output stationary: each PE accumulates one output over the reduction
    WS = "ws"  # weight stationary: each PE holds one (compressed) weight
    IS = "is"  # input stationary: each PE holds one input (SCALE-Sim conventions only)


_NM = re.compile(r"^\s*([0-9]+)\s*:\s*([0-9]+)\s*$")  # ASCII digits: \d would take "٢:٤"


@dataclass(frozen=True, order=True)
class NMPattern:
    """At most ``n`` non-zeros in every group of ``m`` consecutive reduction elements."""

    n: int
    m: int

    def __post_init__(self) -> None:
        if not (1 <= self.n < self.m):
            raise ValueError(f"N:M pattern needs 1 <= N < M, got {self.n}:{self.m}")

    @property
    def density(self) -> float:
        """Fraction of weights kept, ``n / m``."""
        return self.n / self.m

    def compressed_length(self, k: int) -> int:
        """Reduction length after compression: ``k`` padded to whole groups, n slots each."""
        return -(-k // self.m) * self.n

    def kept(self, k: int) -> int:
        """Non-pruned elements of a length-``k`` reduction (a short last group keeps fewer)."""
        full, rest = divmod(k, self.m)
        return full * self.n + min(rest, self.n)

    @classmethod
    def parse(cls, text: str) -> NMPattern | None:
        """Parse ``"N:M"``; ``"dense"`` (or a degenerate ``"M:M"``/``"1:1"``) gives ``None``.

        Raises
        ------
        ValueError
            If the text is neither ``dense`` nor a valid ``N:M`` with ``1 <= N < M``.
        """
        if text.strip().lower() == "dense":
            return None
        match = _NM.match(text)
        if not match:
            raise ValueError(f"expected 'dense' or 'N:M' (e.g. 2:4), got {text!r}")
        n, m = int(match[1]), int(match[2])
        if n == m and n >= 1:
            return None
        if n > m:
            raise ValueError(f"N:M needs N < M, got {text.strip()}")
        return cls(n, m)

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"


def sparsity_label(pattern: NMPattern | None) -> str:
    """``"dense"`` or ``"N:M"``: how patterns appear in traces, tables and JSON."""
    return "dense" if pattern is None else str(pattern)
