"""The offline scheduler's issue orders: topological, and the fastest one kept."""

import pytest

from satsim.config import load_dataflow, load_hardware
from satsim.resources import shipped
from satsim.schedule.hazards import dependencies
from satsim.search.evaluate import evaluate
from satsim.search.order import candidate_orders
from satsim.trace.io import read_trace
from satsim.trace.schema import GemmOp, UpdateOp, VectorOp
from satsim.types import Phase

SAT, POLICY = load_hardware("sat"), load_dataflow("sat")
TRACES = shipped("workloads", (".jsonl",))


def _side(record) -> bool:
    return isinstance(record, UpdateOp) or (isinstance(record, VectorOp)
                                            and record.phase is Phase.WG)


@pytest.mark.parametrize("name", ["resnet18-cifar-bdwp", "vit-tiny-srste", "gpt2-small-dense"])
def test_side_work_last_respects_the_graph_and_moves_only_side_work(name):
    """Every record comes after the records it depends on; the GEMMs and the backward
    chain keep their trace order among themselves, and so does the side work (the weight
    gradients' vector work and the updates), which only moves later."""
    trace = read_trace(TRACES[name])
    order = candidate_orders(trace, POLICY)["side work last"]
    assert sorted(order) == list(range(len(trace.records)))
    at = {index: position for position, index in enumerate(order)}
    for index, deps in dependencies(trace, range(len(trace.records))).items():
        assert all(at[d] < at[index] for d in deps)
    side = [i for i in order if _side(trace.records[i])]
    chain = [i for i in order if not _side(trace.records[i])]
    assert side == sorted(side) and chain == sorted(chain)
    assert all(at[i] >= i for i in side) and side
    gemms = [i for i in order if isinstance(trace.records[i], GemmOp)]
    assert gemms == sorted(gemms)


def test_the_offline_scheduler_keeps_the_fastest_order():
    """With offline scheduling both orders are timed and the faster kept (on ResNet-18
    bdwp 2:8: side work last, several percent faster); without it, only the trace's (with
    the closed forms' stationarities and the rule's loop orders: slower still)."""
    trace = read_trace(TRACES["resnet18-cifar-bdwp"])
    run = evaluate(trace, SAT, POLICY)
    assert set(run.tried) == {"trace order", "side work last"}
    assert run.cycles == min(run.tried.values()) == run.tried[run.order]
    assert run.order == "side work last"
    assert run.tried["side work last"] < 0.95 * run.tried["trace order"]
    plain = evaluate(trace, SAT, POLICY.model_copy(update={"offline_schedule": False}))
    assert plain.tried == {"trace order": plain.cycles} and plain.order == "trace order"
    assert run.cycles < plain.cycles


def test_a_trace_without_a_graph_has_one_order():
    """A v1 trace is a chain: offline scheduling has nothing to choose."""
    trace = read_trace(TRACES["resnet18-cifar-bdwp"])
    chain = trace.model_copy(update={"tensors": ()})
    assert not chain.has_graph
    assert list(candidate_orders(chain, POLICY)) == ["trace order"]


def test_the_choice_is_remembered_for_the_same_inputs(monkeypatch):
    """A second evaluation of the same trace, hardware and policy reuses the choice (one
    order timed) and reports the same run and candidates; another hardware chooses anew."""
    import satsim.search.evaluate as fast
    trace = read_trace(TRACES["resnet9-cifar-bdwp"])
    first = evaluate(trace, SAT, POLICY)
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return timed(*args, **kwargs)

    timed = fast.timed
    monkeypatch.setattr(fast, "timed", counted)
    again = evaluate(trace, SAT, POLICY)
    other = evaluate(trace, load_hardware("sat", [("vector.lanes", 16)]), POLICY)
    assert (again.cycles, again.order, again.tried, again.rows) == (
        first.cycles, first.order, first.tried, first.rows)
    assert len(calls) == 1 + len(other.tried) == 3
