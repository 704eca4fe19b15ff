"""A simulation's result: one tidy row per op plus totals; JSON and tables are views of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SCHEMA = "satsim.result/1"
OP_COLUMNS = ["index", "layer", "phase", "M", "K", "N", "batch", "sparsity", "stationarity",
              "start", "end", "cycles", "macs", "dense_macs"]


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
    ops: pd.DataFrame  # OP_COLUMNS, one row per GEMM op in trace order

    @property
    def cycles(self) -> int:
        return int(self.ops["end"].max()) if len(self.ops) else 0

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    @property
    def macs(self) -> int:
        return int(self.ops["macs"].sum())

    @property
    def dense_macs(self) -> int:
        return int(self.ops["dense_macs"].sum())

    @property
    def utilization(self) -> float:
        """Executed (non-pruned) MACs over the MAC slots of the run, in [0, 1]."""
        return self.macs / (self.cycles * self.pes) if self.cycles else 0.0

    def by_phase(self) -> pd.DataFrame:
        """Ops, cycles, time (ms) and utilization per phase, in the order phases appear."""
        ops = self.ops
        grouped = ops.groupby("phase", sort=False).agg(
            ops=("index", "size"), cycles=("cycles", "sum"), macs=("macs", "sum"))
        grouped["time_ms"] = grouped["cycles"] / (self.clock_mhz * 1e3)
        grouped["utilization"] = grouped["macs"] / (grouped["cycles"] * self.pes)
        return grouped[["ops", "cycles", "time_ms", "utilization"]]

    def to_json(self) -> dict:
        """The ``satsim.result/1`` document."""
        ops = self.ops[OP_COLUMNS].to_dict(orient="records")
        return {
            "schema": SCHEMA, "hardware": self.hardware, "dataflow": self.dataflow,
            "workload": self.workload, "sparsity": self.sparsity, "method": self.method,
            "clock_mhz": float(self.clock_mhz), "cycles": self.cycles, "seconds": self.seconds,
            "macs": self.macs, "dense_macs": self.dense_macs, "utilization": self.utilization,
            "energy_j": None,
            "ops": [{k: (v.item() if hasattr(v, "item") else v) for k, v in op.items()}
                    for op in ops],
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.part")
        try:
            tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
