"""What runs on a worker: a batch of points in, one result row per point out.

A function at module level (executors pickle it by name), free of state: the same points give
the same rows on any process, host or executor, except the ``host_`` columns.
"""

from __future__ import annotations

import os
import socket
import time

from satsim.errors import SatsimError
from satsim.files import file_sha256
from satsim.sweep.spec import Point

# Where and when a point ran, not what it is: leave them out when comparing results.
HOST: dict[str, str] = {"host_wall_s": "float", "host_worker": "str"}


def run_point(point: Point) -> dict:
    """Simulate one point; a point the configs or the workload reject is a failed row."""
    from satsim.api import run

    start = time.perf_counter()
    row = {"point_id": point.point_id, **point.columns, "status": "ok", "error": point.error}
    if point.error is None:
        try:
            _check_workload(point)
            report = run(point.workload_path, point.hardware, point.dataflow,
                         method=point.method, sparsity=point.sparsity,
                         overrides=point.overrides, baseline=point.baseline)
            row.update(report.metrics())
        except SatsimError as exc:
            row["error"] = str(exc)
    if row["error"] is not None:
        row["status"] = "failed"
    row["host_wall_s"] = time.perf_counter() - start
    row["host_worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _check_workload(point: Point) -> None:
    """The worker's copy of the workload must be the one the point id was computed from."""
    from satsim.trace.workload import resolve_workload

    path = resolve_workload(point.workload_path)
    if file_sha256(path) != point.workload_sha256:
        raise SatsimError("differs from the copy the sweep was planned with (SHA-256)",
                          source=path)


def run_batch(points: list[Point]) -> list[dict]:
    """One task: its points in order."""
    return [run_point(point) for point in points]
