"""A record's dependencies in the trace's tensor graph.

A record waits for

* the last writer of every tensor it reads (read after write),
* the last writer and every reader since of every tensor it writes (write after write, write
  after read: an update must not overwrite a weight a GEMM still reads);

a v1 trace has no graph: each record then waits for the previous one (a sequential chain).
"""

from __future__ import annotations

from collections.abc import Sequence

from satsim.trace.schema import Trace


def dependencies(trace: Trace, order: Sequence[int]) -> dict[int, set[int]]:
    """Every record's dependencies as records, the records issued in ``order`` (a v1
    trace: the previous one, a chain)."""
    if not trace.has_graph:
        return {index: {previous} if at else set()
                for at, (previous, index) in enumerate(zip([-1, *order], order, strict=False))}
    graph, need = _Hazards(trace), {}
    for index in order:
        need[index] = graph.records(trace.records[index])
        graph.note(index, trace.records[index])
    return need


class _Hazards:
    """Who last wrote each tensor, and who read it since: a record's dependencies. A read
    of a part of a tensor (a view entry) is a read of the tensor."""

    def __init__(self, trace: Trace) -> None:
        self.base = {t.id: t.view_of for t in trace.tensors if t.view_of is not None}
        self.writer: dict[int, int] = {}
        self.readers: dict[int, list[int]] = {}

    def _reads(self, record) -> list[int]:
        return [self.base.get(t, t) for t in record.reads]

    def records(self, record) -> set[int]:
        """The records it waits for: the writers of what it reads, the writer and the
        readers since of what it writes."""
        records = {self.writer[t] for t in self._reads(record) if t in self.writer}
        for t in record.writes:
            if t in self.writer:
                records.add(self.writer[t])
            records.update(self.readers.get(t, ()))
        return records

    def note(self, index: int, record) -> None:
        for t in self._reads(record):
            self.readers.setdefault(t, []).append(index)
        for t in record.writes:  # a new version: its readers are still to come
            self.writer[t] = index
            self.readers[t] = []
