"""Pre-generation of sparse weights: the SORE runs ahead on a lane and buffer of its own."""

import pytest

from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.search.evaluate import evaluate
from satsim.trace.io import read_trace
from satsim.trace.schema import GemmOp, MaskGenOp
from satsim.types import Phase

SAT, POLICY = load_hardware("sat"), load_dataflow("sat")
TRACES = shipped("workloads", (".jsonl",))


def _runs(name: str):
    trace = read_trace(TRACES[name])
    on_demand = evaluate(trace, SAT, POLICY.model_copy(update={"pregenerate": False}))
    return trace, on_demand, evaluate(trace, SAT, POLICY)


def test_pregenerated_masks_are_ready_before_the_gemms_need_them():
    """ResNet-9 bdwp 2:8: on demand, layer after layer's FF GEMM waits for its sparse
    weights (the SORE takes them in turn with the vector work that precedes them); run
    ahead, the SORE generates them from the iteration's start, no FF GEMM waits for one,
    and the iteration is shorter."""
    trace, on_demand, ahead = _runs("resnet9-cifar-bdwp")

    def ff(run):
        return [r for r in run.rows if isinstance(trace.records[r.record], GemmOp)
                and trace.records[r.record].phase is Phase.FF]

    assert sum(r.stall_mask for r in ff(on_demand)) > 0
    assert sum(r.stall_mask for r in ff(ahead)) == 0
    masks = {r.record: r for r in ahead.rows if isinstance(trace.records[r.record], MaskGenOp)}
    first_gemm = min(r.start for r in ff(ahead)[1:])  # the stem's input needs no mask
    assert min(r.start for r in masks.values()) < first_gemm
    assert ahead.cycles < on_demand.cycles


def test_pregeneration_changes_nothing_without_masks():
    """A dense trace has no mask generation: the same run either way."""
    _, on_demand, ahead = _runs("resnet9-cifar-dense")
    assert ahead.rows == on_demand.rows


def test_pregeneration_needs_a_buffer_for_the_masks():
    """The SORE running ahead needs slots the other lanes do not use: without a buffer
    holding masks, pre-generation is an error naming the field, not a silent no-op."""
    trace = read_trace(TRACES["resnet9-cifar-bdwp"])
    memory = SAT.memory.model_dump()
    del memory["buffers"]["msk"]
    hw = load_hardware("sat", [("memory", memory)])
    with pytest.raises(SatsimError, match=r"hardware 'sat': memory\.buffers\.<name>\.holds: "
                                          r"pre-generation .* no buffer holds masks"):
        evaluate(trace, hw, POLICY)
    assert evaluate(trace, hw, POLICY.model_copy(update={"pregenerate": False})).cycles > 0


def test_at_most_one_buffer_holds_the_masks():
    with pytest.raises(SatsimError, match="at most one buffer must hold masks"):
        load_hardware("sat", [("memory.buffers.vec.holds", ["vector", "masks"])])
