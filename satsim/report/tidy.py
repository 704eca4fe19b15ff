"""A run as one tidy frame: one row per op, every quantity a column whose name ends in its
unit (``_cycles``, ``_bytes``, ``_j``); counts (``macs``, ``mux_selects``, ...) are bare.

The run's identity (workload, hardware, dataflow, method) repeats on every row, so frames of
several runs concatenate into one. Energies are each op's dynamic energy per unit (0: the
op did nothing on that unit); the iteration's static energy belongs to no op
(``RunResult.energy.static``). An energy that is not modelled (no table, or every term of it
``null`` in the table) is <NA>, never 0.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from satsim.errors import SatsimError
from satsim.report.result import OP_COLUMNS, RunResult

if TYPE_CHECKING:
    import pandas as pd

RUN_COLUMNS = ["workload", "hardware", "dataflow", "method"]
# the result rows' columns, renamed where the unit is not in the name yet
_RENAMED = {"start": "start_cycles", "end": "end_cycles", "stall_dram": "stall_dram_cycles",
            "stall_mask": "stall_mask_cycles", "stall_dep": "stall_dep_cycles",
            "stall_unit": "stall_unit_cycles", "stall_buffer": "stall_buffer_cycles"}
# action counts as columns: (unit, action) -> column
_COUNTS = {("stce", "mac_gated"): "mac_gated", ("stce", "mux_select"): "mux_selects",
           ("stce", "index_read"): "index_reads", ("sore", "compare"): "sore_compares",
           ("vector", "lane_op"): "lane_ops", ("vector", "update_lane_op"): "update_lane_ops"}
ENERGY_COLUMNS = ["stce_j", "sore_j", "vector_j", "buffer_j", "dram_j", "energy_j"]
_INTS = ("M", "K", "N", "batch", "elements")


def _sum(values) -> Fraction | None:
    """Sum of the priced values; None when there are none (n/a)."""
    priced = [v for v in values if v is not None]
    return sum(priced, Fraction(0)) if priced else None


def tidy_frame(result: RunResult) -> pd.DataFrame:
    """One row per op of ``result`` (the order the records completed)."""
    import pandas as pd

    rows = []
    for row in result.rows:
        out = {c: getattr(result, c) for c in RUN_COLUMNS}
        out |= {_RENAMED.get(c, c): row[c] for c in OP_COLUMNS}
        actions = result.actions.get(row["index"], {})
        for (unit, action), column in _COUNTS.items():
            out[column] = actions.get(unit, {}).get(action, 0)
        for what in ("read_bytes", "write_bytes"):
            out[f"buffer_{what}"] = sum(counts.get(what, 0) for unit, counts in actions.items()
                                        if unit.startswith("buffer:"))
        if result.energy is None:
            out |= dict.fromkeys(ENERGY_COLUMNS)
        else:  # a unit the op did not use cost it nothing; one priced n/a stays n/a
            per_unit = result.energy.exact.by_op.get(row["index"], {})
            for unit in ("stce", "sore", "vector", "dram"):
                out[f"{unit}_j"] = per_unit.get(unit, Fraction(0))
            buffers = [v for u, v in per_unit.items() if u.startswith("buffer:")]
            out["buffer_j"] = _sum(buffers) if buffers else Fraction(0)
            out["energy_j"] = _sum(per_unit.values()) if per_unit else Fraction(0)
        rows.append(out)
    columns = [*RUN_COLUMNS, *(_RENAMED.get(c, c) for c in OP_COLUMNS), *_COUNTS.values(),
               "buffer_read_bytes", "buffer_write_bytes", *ENERGY_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ENERGY_COLUMNS:
        frame[column] = pd.array([None if v is None else float(v) for v in frame[column]],
                                 dtype="Float64")
    return frame.astype(dict.fromkeys(_INTS, "Int64"))


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet (``.parquet``) or CSV (``.csv``, <NA> as an empty field),
    whole or not at all."""
    from satsim.files import write_atomic

    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return write_atomic(path, lambda handle: frame.to_parquet(handle, index=False))
    if suffix == ".csv":
        return write_atomic(path, lambda handle: handle.write(
            frame.to_csv(index=False, lineterminator="\n").encode()))
    raise SatsimError("expected a .parquet or .csv file name", source=path)
