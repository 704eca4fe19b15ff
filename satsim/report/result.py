"""A simulation's result: one tidy row per op plus totals; JSON and tables are views of it.

The rows are plain records; the pandas frame is built on first use of :attr:`RunResult.ops`,
so that `satsim run` does not pay for importing pandas to print a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "satsim.result/1"
OP_COLUMNS = ["index", "layer", "phase", "M", "K", "N", "batch", "sparsity", "stationarity",
              "lowering", "start", "end", "cycles", "macs", "dense_macs"]


@dataclass(frozen=True)
class PhaseTotal:
    """One phase's share of a run."""

    phase: str
    ops: int
    cycles: int
    macs: int
    dense_macs: int


@dataclass(frozen=True)
class RunResult:
    """What one run of one workload on one hardware + dataflow produced."""

    hardware: str
    dataflow: str
    workload: str
    sparsity: str  # "dense" or "N:M"
    method: str
    clock_mhz: float
    pes: int
    rows: tuple[dict, ...]  # OP_COLUMNS, one per GEMM op in trace order

    @cached_property
    def ops(self) -> pd.DataFrame:
        """The rows as a tidy frame (OP_COLUMNS)."""
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=OP_COLUMNS)

    @property
    def cycles(self) -> int:
        return max((r["end"] for r in self.rows), default=0)

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    @property
    def macs(self) -> int:
        return sum(r["macs"] for r in self.rows)

    @property
    def dense_macs(self) -> int:
        return sum(r["dense_macs"] for r in self.rows)

    @property
    def utilization(self) -> float:
        """Executed (non-pruned) MACs over the MAC slots of the run, in [0, 1]."""
        return self.macs / (self.cycles * self.pes) if self.cycles else 0.0

    def phase_totals(self) -> list[PhaseTotal]:
        """Per phase, in the order phases first appear."""
        totals: dict[str, list[int]] = {}
        for r in self.rows:
            t = totals.setdefault(r["phase"], [0, 0, 0, 0])
            t[0] += 1
            t[1] += r["cycles"]
            t[2] += r["macs"]
            t[3] += r["dense_macs"]
        return [PhaseTotal(phase, *t) for phase, t in totals.items()]

    def by_phase(self) -> pd.DataFrame:
        """Ops, cycles, time (ms) and utilization per phase, in the order phases appear."""
        import pandas as pd

        frame = pd.DataFrame([vars(t) for t in self.phase_totals()],
                             columns=["phase", "ops", "cycles", "macs", "dense_macs"])
        frame = frame.set_index("phase")
        frame["time_ms"] = frame["cycles"] / (self.clock_mhz * 1e3)
        frame["utilization"] = frame["macs"] / (frame["cycles"] * self.pes)
        return frame[["ops", "cycles", "time_ms", "utilization"]]

    def to_json(self) -> dict:
        """The core of the ``satsim.result/1`` document."""
        return {
            "schema": SCHEMA, "hardware": self.hardware, "dataflow": self.dataflow,
            "workload": self.workload, "sparsity": self.sparsity, "method": self.method,
            "clock_mhz": float(self.clock_mhz), "cycles": self.cycles, "seconds": self.seconds,
            "macs": self.macs, "dense_macs": self.dense_macs, "utilization": self.utilization,
            "energy_j": None, "ops": [dict(r) for r in self.rows],
        }
