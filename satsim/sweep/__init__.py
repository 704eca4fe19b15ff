"""Design-space sweeps: specs, executors (process pool or Dask), resumable Parquet results."""

from satsim.sweep.runner import SweepSummary, make_executor, run_sweep
from satsim.sweep.spec import Point, SweepSpec, expand, load_spec
from satsim.sweep.store import load_results

__all__ = ["Point", "SweepSpec", "SweepSummary", "expand", "load_results", "load_spec",
           "make_executor", "run_sweep"]
