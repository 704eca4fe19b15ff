"""What ``satsim validate`` reports: each compared tensor's comparisons and verdict, and the
whole validation as a text table and as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from satsim.report.columns import text_table


@dataclass(frozen=True)
class Comparison:
    """One tensor against another, element by element."""

    max_abs_error: float
    bound_ratio: float | None  # max |error| / bound over the elements (None: bit-exact check)
    identical: float  # share of bit-identical elements


@dataclass(frozen=True)
class Check:
    """One compared tensor: a GEMM result, a mask or an update tensor.

    Every check compares the datapath with PyTorch; for a GEMM result both are also compared
    with the exact result.
    """

    layer: str
    phase: str
    tensor: str
    mapping: str
    elements: int
    passed: bool
    datapath_vs_exact: Comparison | None  # None: a bit-exact check against PyTorch alone
    torch_vs_exact: Comparison | None
    datapath_vs_torch: Comparison
    note: str = ""
    digest: str = ""  # sha256 (16 hex digits) of the modelled tensor's bits: same on any run

    @property
    def torch_over_bound(self) -> bool:
        """Whether PyTorch's own tensor breaks the bound against the exact result."""
        return self.torch_vs_exact is not None and self.torch_vs_exact.bound_ratio > 1

    def rows(self) -> list[tuple[str, Comparison, str]]:
        """(what is compared, the comparison, the result column) per comparison."""
        verdict = "pass" if self.passed else "FAIL"
        if self.datapath_vs_exact is None:
            return [("datapath vs PyTorch", self.datapath_vs_torch,
                     verdict + (f" ({self.note})" if self.note else ""))]
        if not self.passed:  # the datapath's own condition, or else PyTorch's
            verdict += (" (the datapath)" if self.datapath_vs_exact.bound_ratio > 1
                        else " (PyTorch's tensor)")
        return [("datapath vs exact", self.datapath_vs_exact, verdict),
                ("PyTorch vs exact", self.torch_vs_exact, self.note),
                ("datapath vs PyTorch", self.datapath_vs_torch, "")]


@dataclass
class Validation:
    """Every check of one trace on one hardware config."""

    trace: str
    hardware: str
    capture_precision: str
    operand: str
    accumulate: str
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def summary(self) -> list[str]:
        """The closing lines: how many checks failed, and where PyTorch is over the bound."""
        failed = sum(not c.passed for c in self.checks)
        lines = [f"{len(self.checks)} checks, {failed} failed: "
                 + ("PASS" if self.passed else "FAIL")]
        over = [c for c in self.checks if c.torch_over_bound]
        if over:
            gemms = sum(c.torch_vs_exact is not None for c in self.checks)
            lines.append(
                f"PyTorch's own tensor is over the bound against the exact result in "
                f"{len(over)} of {gemms} GEMM results ("
                + ", ".join(f"{c.layer} {c.phase} {c.tensor}" for c in over)
                + "): see their notes; the datapath is judged against the exact result")
        return lines

    def to_dict(self) -> dict:
        return {"trace": self.trace, "hardware": self.hardware,
                "capture_precision": self.capture_precision, "operand": self.operand,
                "accumulate": self.accumulate, "notes": self.notes, "passed": self.passed,
                "summary": self.summary(),
                "checks": [_json_number(asdict(c)) for c in self.checks]}

    def json_text(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def text(self) -> str:
        head = (f"{self.trace} on {self.hardware}: {self.operand} operands, {self.accumulate} "
                f"accumulation (captured in {self.capture_precision})")
        lines = [head, *(f"note: {n}" for n in self.notes), ""]
        rows = [("layer", "phase", "tensor", "mapping", "elements", "compared", "max |err|",
                 "err/bound", "identical", "result")]
        for c in self.checks:
            for i, (what, cmp, result) in enumerate(c.rows()):
                first = (c.layer, c.phase, c.tensor, c.mapping, f"{c.elements:,}") if i == 0 \
                    else ("",) * 5
                rows.append((*first, what, f"{cmp.max_abs_error:.3g}",
                             "bit-exact" if cmp.bound_ratio is None else f"{cmp.bound_ratio:.3g}",
                             percent(cmp.identical), result))
        return "\n".join([*lines, *text_table(rows, "<<<<><>>><"), "", *self.summary()])


def percent(share: float) -> str:
    """A share in percent; 100.00% only when it is all."""
    return "99.99%" if 0.9999 <= share < 1 else f"{share:.2%}"


def _json_number(value):
    """JSON has no inf or NaN: an infinite error ratio (error where the bound is 0) is "inf"."""
    if isinstance(value, dict):
        return {k: _json_number(v) for k, v in value.items()}
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value
