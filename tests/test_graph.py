"""Trace v2 as a tensor dataflow graph: the checker, and the graphs of the shipped captures."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from satsim.api import run
from satsim.resources import shipped
from satsim.trace import read_trace
from satsim.trace.graph import check_graph
from satsim.trace.schema import DTYPE_BITS, GemmOp, MaskGenOp, Role, Trace
from satsim.trace.workload import annotate, load_workload
from satsim.types import Method, NMPattern, Phase

DATA = Path(__file__).parent / "data"
CAPTURES = sorted(name for name in shipped("workloads", (".jsonl",)))

# y = x @ W (2x3 @ 3x4), then relu in place.
TENSORS = [
    {"kind": "tensor", "id": 0, "shape": [2, 3], "dtype": "float32", "bytes": 24,
     "role": "input"},
    {"kind": "tensor", "id": 1, "shape": [3, 4], "dtype": "float32", "bytes": 48,
     "role": "parameter", "name": "l.weight", "layer": "l"},
    {"kind": "tensor", "id": 2, "shape": [2, 4], "dtype": "float32", "bytes": 32,
     "role": "activation", "layer": "l"},
]
GEMM = {"kind": "gemm", "phase": "FF", "layer": "l", "M": 2, "K": 3, "N": 4, "weight": "B",
        "dtype": "float32", "a": [0], "b": [1], "c": [2]}
RELU = {"kind": "vector", "phase": "FF", "layer": "l", "op": "relu", "elements": 8,
        "reads": [2], "writes": [2]}


def _write(tmp_path, tensors=TENSORS, records=(GEMM, RELU)) -> Path:
    header = {"format": "satsim.trace", "version": 2, "name": "t", "precision": "fp32"}
    end = {"kind": "end", "tensors": len(tensors), "records": len(records)}
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (header, *tensors, *records, end)) + "\n")
    return path


def test_a_hand_made_graph_reads_and_runs(tmp_path):
    """A well-formed v2 trace reads back with its tensor table and runs."""
    trace = read_trace(_write(tmp_path))
    assert trace.has_graph and trace.gemms[0].reads == (0, 1) and trace.gemms[0].writes == (2,)
    assert run(_write(tmp_path), "sat", "sat").metrics()["cycles"] > 0


def _bad(tmp_path, **change) -> Path:
    tensors = [dict(t) for t in TENSORS]
    records = [dict(GEMM), dict(RELU)]
    if "tensor" in change:
        index, update = change["tensor"]
        tensors[index].update(update)
    if "records" in change:
        records = change["records"]
    if "gemm" in change:
        records[0].update(change["gemm"])
    return _write(tmp_path, tensors, records)


BROKEN = {
    "read before any write": (
        {"records": [RELU, GEMM]},
        "line 5: vector l reads tensor 2 (activation of l, [2, 4] float32) before any record "
        "writes it"),
    "size mismatch": (
        {"tensor": (0, {"bytes": 20})},
        "line 2: tensor 0: 20 bytes disagree with shape [2, 3] and dtype float32 (24 bytes)"),
    "GEMM operand of other dimensions": (
        {"tensor": (1, {"shape": [3, 5], "bytes": 60})},
        "line 5: gemm FF l: operand B is tensor 1 (parameter l.weight, [3, 5] float32), "
        "15 elements; the GEMM's operand has 12"),
    "dangling id": (
        {"gemm": {"c": [9]}},
        "line 5: writes tensor 9, which is not in the tensor table"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_graph_is_one_error_line_naming_line_and_tensor(cli, tmp_path, case):
    """Each broken graph fails `satsim run` with one `error:` line that names the file, the
    line and the tensor, exit status 2."""
    change, message = BROKEN[case]
    path = _bad(tmp_path, **change)
    done = cli("run", "--workload", str(path))
    assert done.returncode == 2
    assert done.stderr == f"error: {path}: {message}\n"


@pytest.mark.parametrize("name", CAPTURES)
def test_shipped_trace_is_a_checked_graph(name):
    """Every shipped capture is version 2 with a tensor table (the reader ran the checker)."""
    trace = load_workload(name)
    assert trace.header.version == 2 and trace.has_graph
    assert trace.header.precision in ("fp32", "bf16", "fp16")


# -- the graph of every zoo model, from its shipped captures ---------------------------------

def _traces(method: str | None = None) -> list[str]:
    return [n for n in CAPTURES if "-dump" not in n and (method is None or n.endswith(method))]


def _readers(trace: Trace) -> dict[int, list]:
    readers: dict[int, list] = {}
    for record in trace.records:
        for tid in record.reads:
            readers.setdefault(tid, []).append(record)
    return readers


@pytest.mark.parametrize("name", _traces())
def test_each_weight_is_read_by_its_ff_and_bp_gemm_and_updated_once(name):
    """Every conv/linear weight feeds its FF GEMM (its compressed FF form when the layer is
    sparse) and its BP GEMM (none for the stem, whose input needs no gradient); every
    parameter is written by exactly one update."""
    trace = load_workload(name)
    table = trace.tensor_table
    params = {t.name: t.id for t in trace.tensors
              if t.role is Role.PARAMETER and t.of is None and t.name}
    for layer, info in trace.header.layers.items():
        param = params.get(f"{layer}.weight")
        if param is None:  # tied: GPT-2's lm_head reads wte.weight
            continue
        sparse = info.status.startswith("sparse")
        for phase in (Phase.FF, Phase.BP):
            gemms = [g for g in trace.gemms if g.phase is phase and g.layer == layer]
            if phase is Phase.BP and info.excluded == "stem conv":
                assert not gemms
                continue
            (gemm,) = gemms
            value = table[gemm.b[0]]
            assert (value.id if value.of is None else value.of) == param
            assert (value.role is Role.COMPRESSED) == sparse, (layer, phase)
    updates = Counter(tid for r in trace.records if r.kind == "update" for tid in r.writes)
    torch = pytest.importorskip("torch")
    from satsim.capture.zoo import spec_of

    options = {k: v for k, v in trace.header.meta["options"].items() if k != "seq"}  # input
    with torch.device("meta"):
        model = spec_of(trace.header.meta).build(**options)
    trained = [name for name, _ in model.named_parameters()]
    assert trained and all(updates[params[name]] == 1 for name in trained)


@pytest.mark.parametrize("name", _traces())
def test_saved_activations_are_read_by_the_backward_pass(name):
    """Every tensor autograd saved in FF is read by a BP or WG record."""
    trace = load_workload(name)
    readers = _readers(trace)
    views = {}
    for t in trace.tensors:
        if t.view_of is not None:
            views.setdefault(t.view_of, []).append(t.id)
    for t in trace.tensors:
        if t.role is Role.SAVED and t.view_of is None:
            reads = [r for tid in (t.id, *views.get(t.id, ())) for r in readers.get(tid, ())]
            assert any(getattr(r, "phase", None) in (Phase.BP, Phase.WG) for r in reads), t


def _bytes(elements: int, dtype: str) -> int:
    return -(-elements * DTYPE_BITS[dtype] // 8)


def _operand_bytes(op: GemmOp, table) -> dict[str, int]:
    """A, B, C sizes from the GEMM's own dims: a weight stored compressed is N/M of it plus a
    ceil(log2 M)-bit index per kept value."""
    if op.conv is None:
        dense = {"a": op.batch * op.M * op.K, "b": op.batch * op.K * op.N,
                 "c": op.batch * op.M * op.N}
    else:
        cv = op.conv
        x = cv.batch * cv.in_channels * cv.height * cv.width
        y = cv.batch * cv.out_channels * cv.out_height * cv.out_width
        w = cv.out_channels * cv.in_channels // cv.groups * math.prod(cv.kernel)
        dense = {Phase.FF: {"a": x, "b": w, "c": y}, Phase.BP: {"a": y, "b": w, "c": x},
                 Phase.WG: {"a": y, "b": x, "c": w}}[op.phase]
    sizes = {}
    for name, elements in dense.items():
        first = table[getattr(op, name)[0]]
        if first.nm is None:
            sizes[name] = _bytes(elements, first.dtype)
        else:
            kept = elements * first.nm.n // first.nm.m
            bits = max(1, math.ceil(math.log2(first.nm.m)))
            sizes[name] = _bytes(kept, first.dtype) + -(-kept * bits // 8)
    return sizes


@pytest.mark.parametrize("name", _traces())
def test_gemm_reads_the_bytes_of_its_operands(name):
    """The tensors a GEMM reads (and writes) have exactly its operands' bytes."""
    trace = load_workload(name)
    table = trace.tensor_table
    for op in trace.gemms:
        sizes = _operand_bytes(op, table)
        for operand in "abc":
            got = sum(table[tid].bytes for tid in getattr(op, operand))
            assert got == sizes[operand], (op.layer, op.phase, operand)


def _join(trace: Trace, tid: int) -> set[int]:
    """Records reading ``tid`` (or a view of it), as record indexes."""
    ids = {tid} | {t.id for t in trace.tensors if t.view_of == tid}
    return {i for i, r in enumerate(trace.records) if ids & set(r.reads)}


def test_resnet_residual_additions_are_joins():
    """In ResNet-9 each residual add reads the block's input, which a conv also reads: a
    tensor with two consumers."""
    trace = load_workload("resnet9-cifar-bdwp")
    adds = [r for r in trace.records if r.kind == "vector" and r.op == "add"
            and r.phase is Phase.FF]
    assert len(adds) == 2  # two residual branches
    for add in adds:
        convs = [g for g in trace.gemms if g.phase is Phase.FF and set(g.a) & set(add.reads)]
        assert convs, add
        assert any(len(_join(trace, tid)) >= 2 for tid in add.reads)


def test_attention_matmuls_are_joins():
    """In ViT-Tiny the QK^T and PV matmuls read activations of the same qkv projection: the
    projection's output is read by the copies that feed both matmuls, and the softmax output
    is read by the PV matmul and by the softmax backward."""
    trace = load_workload("vit-tiny-bdwp")
    table = trace.tensor_table
    writer = {tid: r for r in trace.records for tid in r.writes}
    first = [g for g in trace.gemms if g.phase is Phase.FF and g.weight is None][:2]
    qk, pv = first
    roots = []
    for tid in (*qk.a, *qk.b):
        producer = writer[tid]
        sources = {table[i].view_of if table[i].view_of is not None else i
                   for i in producer.reads}
        roots.append(sources)
    assert roots[0] == roots[1]  # q and k are cut from one qkv tensor
    (probs,) = pv.a
    consumers = [trace.records[i] for i in _join(trace, probs)]
    assert any(r.kind == "gemm" for r in consumers)
    assert any(getattr(r, "op", "") == "softmax" and r.phase is Phase.BP for r in consumers)


# -- version 1 ------------------------------------------------------------------------------

# Cycles the previous release (v1 traces, d91a511) printed for these files.
V1_CYCLES = {
    ("resnet18-cifar-bdwp", "sat", "sat"): (26_105_656, 52_041_544),
    ("vit-tiny-srste", "sat", "sat"): (23_652_651, 29_759_403),
    ("resnet18-cifar-bdwp", "scalesim", "scalesim-os"): (30_702_524, 61_078_460),
    ("vit-tiny-srste", "scalesim", "scalesim-os"): (30_668_771, 36_889_571),
}


@pytest.mark.parametrize("key", sorted(V1_CYCLES))
def test_v1_traces_run_with_the_cycles_of_before(key):
    """A v1 trace of the previous release still runs, as a sequential chain (and says so),
    with the same cycles as before on what that release timed: the GEMMs, on ideal memory."""
    name, hardware, dataflow = key
    then = ["memory=ideal", "routes.maskgen=untimed", "routes.vector=untimed",
            "routes.update=untimed"] if hardware == "sat" else []
    report = run(DATA / "v1" / f"{name}.jsonl", hardware, dataflow, overrides=then)
    metrics = report.metrics()
    assert (metrics["cycles"], metrics["dense_cycles"]) == V1_CYCLES[key]
    assert "none (trace format v1): the records form a sequential chain" in report.text()


# -- re-annotation rebuilds the graph ---------------------------------------------------------

def records_by_content(trace: Trace) -> list:
    """Every record with its tensors by content (role, name, dtype, bytes, owner or not)
    instead of ids. Left out: ``prunable`` (what the capture measured, not the work) and
    tensor shapes (a bias gradient is [768] or [1, 768] depending on the autograd path)."""
    info = trace.tensor_table

    def tensors(ids):
        return tuple((info[t].role, info[t].name, info[t].dtype, info[t].bytes,
                      info[t].of is not None) for t in ids)

    return [(r.model_dump(exclude={"reads", "writes", "a", "b", "c", "bias", "prunable"}),
             tensors(r.reads), tensors(r.writes)) for r in trace.records]


def _as_set(trace: Trace) -> Counter:
    return Counter(repr(record) for record in records_by_content(trace))


MODELS = sorted({name.rsplit("-", 1)[0] for name in CAPTURES if name.endswith("-dense")})


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", ["bdwp", "srste"])
def test_reannotating_a_capture_gives_the_other_methods_capture(model, method):
    """A dense capture re-annotated as ``method`` at the sparse capture's N:M has the
    ``method`` capture's records and tensors (mask generation before each pruned layer's
    first GEMM, its GEMMs reading the compressed forms, the SR-STE decay after its WG); the
    ``method`` capture made dense has the dense capture's. Both pass the graph checker."""
    dense = load_workload(f"{model}-dense")
    sparse = load_workload(f"{model}-{method}")
    made_sparse = annotate(dense, Method(method), NMPattern.parse(sparse.header.meta["nm"]))
    made_dense = annotate(sparse, Method.DENSE, None)
    for trace in (made_sparse, made_dense):
        check_graph(trace)
    if sparse.header.precision == "fp32":
        assert records_by_content(made_sparse) == records_by_content(sparse)
        assert records_by_content(made_dense) == records_by_content(dense)
    else:  # mixed precision: the same records, some casts in another order (docs/capture.md)
        assert _as_set(made_sparse) == _as_set(sparse)
        assert _as_set(made_dense) == _as_set(dense)
    assert sum(isinstance(r, MaskGenOp) for r in made_sparse.records) > 0
