"""Shipped workloads and re-annotation by training method."""

import pytest

from satsim.resources import shipped
from satsim.trace import Method, annotate, load_workload
from satsim.trace.handlowered import resnet18_cifar, resnet50_imagenet
from satsim.types import NMPattern, Phase


@pytest.mark.parametrize("name", sorted(shipped("workloads", (".jsonl",))))
def test_shipped_traces_read(name):
    assert load_workload(name).gemms


def test_default_workload_is_a_resnet18_training_iteration():
    """FF, BP and WG of every layer; the stem conv has no BP; BDWP 2:8 on prunable layers."""
    trace = load_workload()
    phases = {(op.layer, op.phase) for op in trace.gemms}
    assert ("conv1", Phase.FF) in phases and ("conv1", Phase.WG) in phases
    assert ("conv1", Phase.BP) not in phases
    assert trace.header.meta["method"] == "bdwp"
    for op in trace.gemms:
        sparse = op.prunable and op.phase in (Phase.FF, Phase.BP)
        assert op.sparsity == (NMPattern(2, 8) if sparse else None)


@pytest.mark.parametrize("model", ["resnet18-cifar", "resnet50-imagenet"])
def test_captured_gemms_match_the_hand_lowering(model):
    """The dense capture's GEMMs (layer, phase, M, K, N) are exactly the hand-lowered ones."""
    trace = load_workload(f"{model}-dense")
    build = {"resnet18-cifar": resnet18_cifar, "resnet50-imagenet": resnet50_imagenet}[model]
    hand = build(batch=trace.header.meta["batch"], method=Method.DENSE, pattern=None)

    def shapes(t):
        return sorted((op.layer, op.phase, op.M, op.K, op.N, op.batch) for op in t.gemms)

    assert shapes(trace) == shapes(hand)


def test_model_name_means_its_bdwp_capture():
    assert load_workload("resnet18-cifar") == load_workload("resnet18-cifar-bdwp")


def test_resnet50_forward_has_54_gemms():
    trace = resnet50_imagenet(batch=1)
    assert sum(op.phase is Phase.FF for op in trace.gemms) == 54


@pytest.mark.parametrize(("method", "sparse_phases"), [
    (Method.BDWP, {Phase.FF, Phase.BP}), (Method.SRSTE, {Phase.FF}), (Method.DENSE, set())])
def test_annotate_by_method(method, sparse_phases):
    pattern = None if method is Method.DENSE else NMPattern(1, 4)
    trace = annotate(load_workload(), method, pattern)
    for op in trace.gemms:
        expected = pattern if (op.prunable and op.phase in sparse_phases) else None
        assert op.sparsity == expected
    assert trace.header.meta["method"] == method.value


def test_a_weight_too_big_for_a_mask_record_is_an_error():
    """Pruning a GEMM whose weight has more than 2^40 elements (K 64 x N 2^40, each in the
    format's limit) would need a maskgen record beyond the limit: an error naming the layer,
    which `satsim run`'s dense hint takes as "this trace cannot be made sparse"."""
    from satsim.errors import SatsimError
    from satsim.trace.schema import GemmOp, Trace, TraceHeader

    op = GemmOp(phase=Phase.FF, layer="l", M=64, K=64, N=2**40, weight="B")
    trace = Trace(header=TraceHeader(name="g"), records=(op,))
    with pytest.raises(SatsimError, match=r"layer l: sparsity: its weight's 70,368,744,177,664 "
                                          r"elements are more than a maskgen record's"):
        annotate(trace, Method.BDWP, NMPattern(2, 8))
