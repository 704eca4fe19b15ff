"""Results as tidy data, and views of them (tables, JSON)."""

from satsim.report.result import RunResult

__all__ = ["RunResult"]
