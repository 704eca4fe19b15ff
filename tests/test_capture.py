"""Trace capture from real PyTorch N:M training (tiny model widths keep it fast)."""

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import numpy as np  # noqa: E402

from satsim.capture.capture import CaptureSpec, capture  # noqa: E402
from satsim.capture.zoo import build_model  # noqa: E402
from satsim.errors import SatsimError  # noqa: E402
from satsim.trace.schema import Role  # noqa: E402
from satsim.types import NMPattern, Phase  # noqa: E402

torch.set_num_threads(1)
TINY = {"width": 8}


@pytest.fixture(scope="module")
def traces():
    """One tiny ResNet-18 capture per method (2 real steps on digits, last one traced)."""
    return {method: capture(CaptureSpec(model="resnet18-cifar", method=method,
                                        nm=None if method == "dense" else NMPattern(2, 8),
                                        batch=4, options=TINY))
            for method in ("bdwp", "srste", "dense")}


def _conv_macs(op):
    c = op.conv
    ff = c.batch * c.out_height * c.out_width * c.in_channels * c.kernel[0] * c.kernel[1] * (
        c.out_channels) // c.groups
    bp = c.batch * c.height * c.width * c.out_channels * c.kernel[0] * c.kernel[1] * (
        c.in_channels) // c.groups
    return {Phase.FF: ff, Phase.WG: ff, Phase.BP: bp}[op.phase]


def test_conv_macs_agree_with_conv_parameters(traces):
    """For every conv GEMM, batch*M*K*N equals the MACs its conv parameters imply."""
    convs = [op for op in traces["bdwp"].gemms if op.conv is not None]
    assert len(convs) == 20 * 3 - 1
    for op in convs:
        assert op.macs == _conv_macs(op), op.layer


def test_every_conv_layer_has_ff_bp_wg_except_the_stem(traces):
    phases = {}
    for op in traces["bdwp"].gemms:
        phases.setdefault(op.layer, set()).add(op.phase)
    assert phases.pop("conv1") == {Phase.FF, Phase.WG}
    assert all(p == {Phase.FF, Phase.BP, Phase.WG} for p in phases.values())


def test_bdwp_ff_and_bp_are_nm_by_measurement(traces):
    """Every FF and BP of a sparsified layer measures at most 2 non-zeros per group of 8."""
    sparsified = [op for op in traces["bdwp"].gemms if op.prunable]
    assert {op.phase for op in sparsified} == {Phase.FF, Phase.BP}
    assert all(op.sparsity is not None and op.sparsity.m == 8 and op.sparsity.n <= 2
               for op in sparsified)
    assert all(op.sparsity is None for op in traces["bdwp"].gemms if op.phase is Phase.WG)


def test_srste_bp_is_dense_by_measurement(traces):
    """SR-STE's BP weight (pruned along C_in) has no N:M structure along C_out."""
    gemms = traces["srste"].gemms
    assert all(op.sparsity is not None for op in gemms if op.prunable and op.phase is Phase.FF)
    assert all(op.sparsity is None for op in gemms if op.phase is Phase.BP)


def test_dense_trace_has_no_sparse_operand(traces):
    assert all(op.sparsity is None for op in traces["dense"].gemms)


def test_header_and_side_records(traces):
    """The header records the capture; masks per sparse weight and direction, updates per
    parameter tensor."""
    trace = traces["bdwp"]
    meta = trace.header.meta
    assert (meta["method"], meta["nm"], meta["batch"], meta["dataset"]) == (
        "bdwp", "2:8", 4, "digits")
    assert meta["torch"] == torch.__version__ and meta["threads"] == 1
    kinds = [r.kind for r in trace.records]
    sparse_layers = [n for n, i in trace.header.layers.items() if i.status.startswith("sparse")]
    assert kinds.count("maskgen") == 2 * len(sparse_layers) == 2 * 19
    assert kinds.count("update") == len(list(build_model("resnet18-cifar", **TINY).parameters()))
    assert {r.op for r in trace.records if r.kind == "vector"} >= {"relu", "batchnorm", "add",
                                                                   "loss"}


@pytest.mark.parametrize("method", ["dense", "srste", "bdwp"])
def test_training_reduces_the_loss(method):
    """A short digits run lowers the loss for every method (the tiny variant at lr 0.05:
    it learns fast; the default, 0.01, suits the full-size models)."""
    trace = capture(CaptureSpec(model="resnet18-cifar", method=method, batch=32, steps=30,
                                nm=None if method == "dense" else NMPattern(2, 4),
                                options=TINY, lr=0.05))
    losses = trace.header.meta["losses"]
    assert sum(losses[-6:]) / 6 < 0.8 * sum(losses[:6]) / 6


def test_the_readme_capture_lowers_its_loss():
    """The README's capture (full-size ResNet-18, BDWP 2:4, batch 32, two steps): the second
    step's loss is below the first's. At lr 0.05 the first step overshot (2.475 -> 3.651);
    the header records the optimizer, lr and momentum."""
    trace = capture(CaptureSpec(model="resnet18-cifar", method="bdwp", nm=NMPattern(2, 4),
                                batch=32))
    meta = trace.header.meta
    first, second = meta["losses"]
    assert second < first == pytest.approx(2.475, abs=1e-3)
    assert (meta["optimizer"], meta["lr"], meta["momentum"]) == ("sgd-momentum", 0.01, 0.9)


def test_shapes_only_gpt2_records_attention_matmuls():
    """Under FakeTensorMode: no compute, attention GEMMs have no weight operand."""
    trace = capture(CaptureSpec(model="gpt2-small", method="bdwp", nm=NMPattern(2, 8), batch=1,
                                shapes_only=True,
                                options={"layers": 1, "dim": 64, "heads": 2, "vocab": 96,
                                         "context": 16, "seq": 16}))
    attention = [op for op in trace.gemms if op.weight is None and op.batch == 2]
    assert len(attention) == 2 + 4  # QK^T, PV forward; two gradients each backward
    assert trace.header.meta["measured"] is False
    assert any(op.sparsity == NMPattern(2, 8) for op in trace.gemms if op.phase is Phase.BP)


@pytest.mark.parametrize(("args", "expected"), [
    (["nosuchnet", "--method", "bdwp", "--batch", "2"], "unknown model 'nosuchnet'"),
    (["resnet18-cifar", "--method", "bdwp", "--nm", "5:4", "--batch", "2"], "N:M needs N < M"),
    (["resnet18-cifar", "--method", "bdwp", "--nm", "4:4", "--batch", "2"], "needs a sparse N:M"),
    (["resnet18-cifar", "--method", "bdwp", "--batch", "0"], "batch must be at least 1"),
    (["resnet18-cifar", "--method", "bdwp", "--batch", "2", "--model-option", "width=8",
      "--dump-tensors", "layer9.conv"], "no weight layer named 'layer9.conv'"),
    (["resnet18-cifar", "--method", "dense", "--batch", "2", "--optimizer", "adamw",
      "--lr", "-0.001"], "--lr: expected a finite number of at least 0, got -0.001"),
    (["resnet18-cifar", "--method", "dense", "--batch", "2", "--optimizer", "adamw",
      "--betas", "0.9,1"], "--betas: expected two numbers in [0, 1), got (0.9, 1.0)"),
    (["resnet18-cifar", "--method", "dense", "--batch", "2", "--optimizer", "adamw",
      "--betas", "0.9"], "--betas: expected B1,B2, got '0.9'"),
    (["resnet18-cifar", "--method", "dense", "--batch", "2", "--weight-decay", "0.1"],
     "--weight-decay: --weight-decay is a hyper-parameter of adamw, not sgd-momentum"),
])
def test_capture_errors_leave_no_output(cli, tmp_path, args, expected):
    """Bad capture requests: one error line, exit 2, and no trace or tensor file."""
    out = tmp_path / "t.jsonl"
    done = cli("capture", *args, "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


TINY_GPT2 = {"layers": 1, "dim": 64, "heads": 2, "vocab": 128, "context": 32, "seq": 16}
ADAMW = CaptureSpec(model="gpt2-small", method="bdwp", nm=NMPattern(2, 4), batch=2,
                    precision="bf16", optimizer="adamw", options=TINY_GPT2)


@pytest.mark.parametrize("shapes_only", [False, True])
def test_adamw_update_reads_and_writes_two_fp32_moments(shapes_only):
    """Under AdamW (bf16 compute), each parameter's update reads its gradient, fp32 master
    weight and two fp32 moments (optimizer state), and writes the weight, both moments and
    any bf16 copy the GEMMs read; the updates' elements sum to the parameter count, and the
    header records the optimizer's hyper-parameters."""
    trace = capture(replace(ADAMW, shapes_only=shapes_only))
    table = trace.tensor_table
    model = build_model("gpt2-small", **{k: v for k, v in TINY_GPT2.items() if k != "seq"})
    updates = [r for r in trace.records if r.kind == "update"]
    assert {r.optimizer for r in updates} == {"adamw"}
    assert sum(r.elements for r in updates) == sum(p.numel() for p in model.parameters())
    copies = 0
    for r in updates:
        grad, weight, m, v = r.reads
        assert table[grad].role is Role.WEIGHT_GRADIENT and table[weight].dtype == "float32"
        assert [(table[t].role, table[t].dtype, table[t].name) for t in (m, v)] == [
            (Role.OPTIMIZER_STATE, "float32", f"{r.param}:exp_avg"),
            (Role.OPTIMIZER_STATE, "float32", f"{r.param}:exp_avg_sq")]
        assert r.writes[:3] == (weight, m, v)
        assert all(table[t].of == weight and table[t].dtype == "bfloat16" for t in r.writes[3:])
        copies += len(r.writes[3:])
    assert copies > 0
    meta = trace.header.meta
    assert (meta["optimizer"], meta["lr"], meta["betas"], meta["eps"], meta["weight_decay"]) \
        == ("adamw", 3e-4, [0.9, 0.95], 1e-8, 0.1)


def test_adamw_updates_are_timed_at_the_tables_cost(tmp_path):
    """On SAT with ideal memory, the WU phase of an AdamW trace keeps the vector lanes busy
    ceil(parameters / lanes) x (adamw + recast) cycles per update; a table without ``adamw``
    is an error naming that field."""
    from satsim.api import run
    from satsim.config import load_hardware
    from satsim.trace import write_trace

    path = tmp_path / "adamw.jsonl"
    trace = capture(replace(ADAMW, shapes_only=True))
    write_trace(trace, path)
    vector = load_hardware("sat").units["vector"]
    table = vector.update_cycles_per_parameter
    expected = sum(-(-r.elements // vector.lanes) * (table["adamw"] + table["recast"])
                   for r in trace.records if r.kind == "update")
    report = run(path, "sat", overrides=["memory=ideal"])
    assert sum(r["busy_cycles"] for r in report.result.rows if r["phase"] == "WU") == expected
    with pytest.raises(SatsimError) as err:
        run(path, "sat", overrides=["vector.update_cycles_per_parameter="
                                    "{sgd-momentum: 2, recast: 1}"])
    assert err.value.field == "units.vector.update_cycles_per_parameter.adamw"


@pytest.mark.parametrize(("change", "option"), [
    ({"optimizer": "adam"}, "--optimizer"),
    ({"lr": -1e-3}, "--lr"),
    ({"lr": float("inf")}, "--lr"),
    ({"eps": -1e-8}, "--eps"),
    ({"eps": float("nan")}, "--eps"),
    ({"weight_decay": -0.1}, "--weight-decay"),
    ({"betas": (1.0, 0.95)}, "--betas"),
    ({"betas": (0.9, -0.1)}, "--betas"),
    ({"betas": (0.9,)}, "--betas"),
])
def test_bad_optimizer_settings_name_their_option(change, option):
    """An unknown optimizer, a negative or non-finite lr, eps or weight decay, and betas
    outside [0, 1) are the user's error, naming the option."""
    with pytest.raises(SatsimError) as err:
        replace(ADAMW, **change).validate()
    assert err.value.source == option


def test_capture_cli_writes_a_trace_satsim_runs(cli, tmp_path):
    """`satsim capture` -> `satsim run --workload` on the result, with a tensor dump."""
    out = tmp_path / "r.jsonl"
    done = cli("capture", "resnet18-cifar", "--method", "bdwp", "--nm", "2:4", "--batch", "4",
               "--model-option", "width=8", "--dump-tensors", "layer1.0.conv1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    dump = np.load(tmp_path / "r.npz")
    assert {"layer1.0.conv1/FF/x", "layer1.0.conv1/BP/w", "layer1.0.conv1/WG/dw",
            "layer1.0.conv1/mask_FF"} <= set(dump.files)
    ran = cli("run", "--workload", str(out))
    assert ran.returncode == 0 and "(bdwp, 2:4)" in ran.stdout


@pytest.mark.parametrize(("model", "options"), [
    ("resnet18-cifar", TINY),
    ("resnet50-imagenet", {"width": 8, "layers": [1, 1, 1, 1], "image_size": 64}),
    ("vit-tiny", {"depth": 2, "dim": 32, "heads": 2, "image_size": 32, "patch": 8}),
    ("gpt2-small", {"layers": 2, "dim": 64, "heads": 2, "vocab": 96, "context": 16}),
])
def test_shapes_only_records_the_graph_a_real_capture_records(model, options):
    """--shapes-only builds the model without values and runs the step under FakeTensorMode,
    yet records the same ops on the same tensors as a capture with real compute."""
    spec = CaptureSpec(model=model, method="bdwp", nm=NMPattern(2, 8), batch=2, options=options)
    real = capture(spec)
    fake = capture(replace(spec, shapes_only=True))
    assert fake.header.meta["measured"] is False
    assert fake.records == real.records
    assert fake.tensors == real.tensors


def test_shapes_only_at_batch_1_records_a_view_as_no_op():
    """GPT-2 at batch 1 flattens its targets ([1, T] -> [T]) with a view, where batch 2
    copies them: the shapes-only capture records what the real one does, no 'view' vector
    op (which no hardware prices, so satsim run rejected the trace)."""
    spec = CaptureSpec(model="gpt2-small", method="bdwp", nm=NMPattern(2, 8), batch=1,
                       options={"layers": 1, "dim": 64, "heads": 2, "vocab": 96,
                                "context": 16})
    real, fake = capture(spec), capture(replace(spec, shapes_only=True))
    assert not [r for r in fake.records if getattr(r, "op", None) == "view"]
    assert (fake.records, fake.tensors) == (real.records, real.tensors)


@pytest.mark.parametrize("precision, dtype", [("bf16", "bfloat16"), ("fp16", "float16")])
def test_mixed_precision_capture_records_the_format_the_step_used(tmp_path, precision, dtype):
    """Under --precision the GEMMs run in the 16-bit format on fp32 master weights: the header
    says so, every GEMM operand tensor has that dtype, the dense classifier reads a 16-bit copy
    that its update writes, and the dump keeps the raw 16-bit patterns torch produced."""
    dump = tmp_path / "d.npz"
    trace = capture(CaptureSpec(model="resnet18-cifar", method="bdwp", nm=NMPattern(2, 8),
                                batch=2, precision=precision, options=TINY),
                    dump_layers=("fc",), dump_path=dump)
    assert trace.header.precision == precision
    table = trace.tensor_table
    for op in trace.gemms:
        assert op.dtype == dtype and table[op.a[0]].dtype == dtype == table[op.b[0]].dtype
    (ff,) = [op for op in trace.gemms if op.layer == "fc" and op.phase is Phase.FF]
    copy = table[ff.b[0]]
    assert copy.name == f"fc.weight:{dtype}" and table[copy.of].dtype == "float32"
    (update,) = [r for r in trace.records if r.kind == "update" and r.param == "fc.weight"]
    assert copy.id in update.writes and copy.of in update.reads
    saved = np.load(dump)
    assert str(saved["fc/FF/c.dtype"]) == dtype and saved["fc/FF/c"].dtype == np.uint16
    bits = torch.from_numpy(saved["fc/FF/c"].view(np.int16)).view(getattr(torch, dtype))
    assert bits.shape == (2, 10) and torch.isfinite(bits).all()


@pytest.mark.parametrize("micro_batches", [1, 2])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_reannotation_equals_capturing_the_other_method(precision, micro_batches):
    """Re-annotating a tiny capture (``--sparsity``, a run's dense twin) gives the GEMMs, mask
    generation and updates that capturing the other method records, in mixed precision too:
    a pruned layer's GEMMs read compressed forms generated from the master weight, a dense
    layer's the 16-bit copy its update writes; with two micro-batches, each one's WG gets its
    SR-STE decay. (In fp32 every record matches, tested on the shipped captures; in bf16
    autograd orders a few casts and adds of the custom N:M layers differently from torch's
    own.)"""
    from test_graph import records_by_content

    from satsim.trace.graph import check_graph
    from satsim.trace.schema import GemmOp, MaskGenOp, UpdateOp
    from satsim.trace.workload import annotate
    from satsim.types import Method

    def main_work(trace):
        return [r for r, record in zip(records_by_content(trace), trace.records, strict=True)
                if isinstance(record, GemmOp | MaskGenOp | UpdateOp)]

    spec = CaptureSpec(model="resnet18-cifar", method="dense", nm=None, batch=2,
                       micro_batches=micro_batches, precision=precision, shapes_only=True,
                       options=TINY)
    dense = capture(spec)
    bdwp = capture(replace(spec, method="bdwp", nm=NMPattern(2, 8)))
    for made, captured in ((annotate(dense, Method.BDWP, NMPattern(2, 8)), bdwp),
                           (annotate(bdwp, Method.DENSE, None), dense)):
        check_graph(made)
        assert main_work(made) == main_work(captured)
        if precision == "fp32":
            assert records_by_content(made) == records_by_content(captured)
