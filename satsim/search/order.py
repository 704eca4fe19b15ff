"""The orders in which the schedule may issue a trace's records: the offline scheduler's
choices.

Every order is topological in the trace's tensor graph, so it computes what the trace
computes; units take their ops in it. The candidates:

* **trace order**: the order PyTorch ran the step in;
* **side work last** (``dataflow.offline_schedule``): the backward pass's chain (a layer's
  data gradient, then the vector work that turns it into the previous layer's output
  gradient, then that layer's data gradient ...) goes first; the vector work of the weight
  gradients (their casts, bias gradients, SR-STE decay) and the weight updates, which only
  the next iteration needs, wait until nothing of the chain is ready. The array still takes
  its GEMMs in trace order, so the vector unit works on the chain while the array computes
  weight gradients.

The offline scheduler times every candidate (:func:`satsim.search.evaluate.evaluate`) and keeps
the fastest, the earlier on a tie, so it is never slower than the trace's order.
"""

from __future__ import annotations

import heapq

from satsim.config import DataflowPolicy
from satsim.schedule.hazards import dependencies
from satsim.trace.schema import Trace, UpdateOp, VectorOp
from satsim.types import Phase


def candidate_orders(trace: Trace, policy: DataflowPolicy) -> dict[str, list[int]]:
    """The orders ``policy`` lets the scheduler choose from, by name (see the module)."""
    found = {"trace order": list(range(len(trace.records)))}
    if trace.has_graph and policy.offline_schedule:
        found["side work last"] = _side_work_last(trace)
    unique: dict[str, list[int]] = {}
    for name, order in found.items():
        if order not in unique.values():
            unique[name] = order
    return unique


def _side_work_last(trace: Trace) -> list[int]:
    """Topological, the chain first (see the module); ties in trace order."""
    need = dependencies(trace, range(len(trace.records)))
    users: dict[int, list[int]] = {}
    for index, deps in need.items():
        for d in deps:
            users.setdefault(d, []).append(index)
    left = {index: len(deps) for index, deps in need.items()}

    def rank(index: int) -> tuple[int, int]:
        record = trace.records[index]
        if isinstance(record, UpdateOp):
            return 2, index
        if isinstance(record, VectorOp) and record.phase is Phase.WG:
            return 1, index
        return 0, index

    ready = [rank(i) for i, n in left.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, index = heapq.heappop(ready)
        order.append(index)
        for user in users.get(index, ()):
            left[user] -= 1
            if left[user] == 0:
                heapq.heappush(ready, rank(user))
    assert len(order) == len(trace.records), "the tensor graph has a cycle"
    return order
