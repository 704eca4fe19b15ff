"""Gradient accumulation over micro-batches (``--micro-batches``) and activation checkpointing
(``--model-option checkpoint=true``) in captured traces."""

from collections import Counter
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import numpy as np  # noqa: E402

from satsim.capture.capture import CaptureSpec, _batches, _loss, capture  # noqa: E402
from satsim.capture.models.llama import CONFIGS  # noqa: E402
from satsim.capture.nm import DEFAULT_LAM, NMLinear, masks_per_step  # noqa: E402
from satsim.capture.zoo import build_model  # noqa: E402
from satsim.errors import SatsimError  # noqa: E402
from satsim.trace.schema import Role  # noqa: E402
from satsim.types import NMPattern, Phase  # noqa: E402

torch.set_num_threads(1)
GPT2 = {"layers": 2, "dim": 64, "heads": 2, "vocab": 96, "context": 16}
BDWP = CaptureSpec(model="gpt2-small", method="bdwp", nm=NMPattern(2, 4), batch=2, options=GPT2)
LLAMA = str(CONFIGS / "llama-tiny.json")
TINY_LLAMA = CaptureSpec(model="llama-tiny", method="bdwp", nm=NMPattern(2, 4), batch=1,
                         options={"seq": 16}, model_config=LLAMA)
CHECKPOINT = {**GPT2, "checkpoint": True}


@pytest.fixture(scope="module")
def plain():
    return capture(BDWP)


@pytest.fixture(scope="module")
def two():
    return capture(replace(BDWP, micro_batches=2))


@pytest.fixture(scope="module")
def recomputed():
    return capture(replace(BDWP, options=CHECKPOINT))


def _gemms(trace, phase):
    return [g for g in trace.gemms if g.phase is phase]


def _macs(gemms):
    return sum(g.M * g.K * g.N * g.batch for g in gemms)


def _shape(g):
    return (g.layer, g.M, g.K, g.N, g.batch, g.sparsity, g.causal)


# -- micro-batches ---------------------------------------------------------------------------
def test_micro_batches_repeat_the_passes_and_update_once(plain, two):
    """K=2 runs every FF, BP and WG GEMM twice, in micro-batch order, generates the masks once
    and updates each parameter once; the header keeps the micro-batch size as ``batch``."""
    for phase in (Phase.FF, Phase.BP, Phase.WG):
        once = [_shape(g) for g in _gemms(plain, phase)]
        assert [_shape(g) for g in _gemms(two, phase)] == once + once
    kinds = Counter(r.kind for r in plain.records)
    assert Counter(r.kind for r in two.records)["update"] == kinds["update"]
    assert Counter(r.kind for r in two.records)["maskgen"] == kinds["maskgen"]
    order = [r.phase for r in two.records if r.kind == "gemm"]
    first_bp, last_ff = order.index(Phase.BP), len(order) - 1 - order[::-1].index(Phase.FF)
    assert first_bp < last_ff  # the second micro-batch's forward follows the first's backward
    assert (two.header.meta["batch"], two.header.meta["micro_batches"]) == (2, 2)
    assert "micro_batches" not in plain.header.meta


def test_the_update_reads_the_accumulated_gradient(two):
    """Each parameter's update reads the gradient the accumulation ``add`` (WG, the parameter's
    layer) last wrote: the first micro-batch's gradient plus the second's, both weight
    gradients of that parameter."""
    table = two.tensor_table
    writers = {}
    for i, r in enumerate(two.records):
        for tid in r.writes:
            writers[tid] = i
    for update in (r for r in two.records if r.kind == "update"):
        grad, param = update.reads[:2]
        add = two.records[writers[grad]]
        assert (add.kind, add.op, add.phase) == ("vector", "add", Phase.WG), update.param
        assert add.layer == table[param].layer and grad in add.reads
        (share,) = set(add.reads) - {grad}
        assert table[share].role is Role.WEIGHT_GRADIENT and table[share].of == param
        assert table[grad].role is Role.WEIGHT_GRADIENT and table[grad].of == param


def test_accumulated_gradient_is_the_gradient_of_the_whole_batch(tmp_path):
    """Dense fp32 GPT-2: two micro-batches of 2 sequences leave the gradient of one batch of 4
    (the loss of each scaled by 1/2), up to fp32 summation order: the weight-gradient GEMM
    sums 4 sequences' rows at once instead of two halves added afterwards (torch's
    ``assert_close`` fp32 tolerance); it differs from either micro-batch's own gradient."""
    spec = CaptureSpec(model="gpt2-small", method="dense", nm=None, batch=2, steps=1,
                       micro_batches=2, options=GPT2)
    layer = "h.0.mlp.c_fc"
    capture(spec, dump_layers=(layer,), dump_path=tmp_path / "t.npz")
    accumulated = torch.from_numpy(np.load(tmp_path / "t.npz")[f"{layer}/WU/g"])
    torch.manual_seed(spec.seed)  # the capture's model and data
    model = build_model("gpt2-small", **GPT2)
    batches = _batches(spec)
    parts = [next(batches) for _ in range(2)]
    whole = [torch.cat(tensors) for tensors in zip(*parts, strict=True)]
    grads = []
    for x, target in (*parts, whole):
        model.zero_grad()
        _loss(model(x), target).backward()
        grads.append(model.get_submodule(layer).weight.grad.clone())
    torch.testing.assert_close(accumulated, grads[2])
    for own in grads[:2]:
        assert not torch.allclose(accumulated, own, rtol=0.01, atol=0)


def test_validate_checks_the_accumulated_gradient(cli, tmp_path):
    """`satsim validate` on a K=2 capture's dump checks the update's gradient as the earlier
    micro-batches' gradient plus the last one's (dW and SR-STE decay), bit for bit; each
    micro-batch's backward adds half of SR-STE's λ, so the step's gradient carries λ once."""
    out = tmp_path / "k2.jsonl"
    done = cli("capture", "gpt2-small", "--method", "bdwp", "--nm", "2:4", "--batch", "2",
               "--micro-batches", "2", *[f"--model-option={k}={v}" for k, v in GPT2.items()],
               "--dump-tensors", "h.0.mlp.c_fc", "--out", str(out))
    assert done.returncode == 0, done.stderr
    dump = np.load(tmp_path / "k2.npz")
    assert "h.0.mlp.c_fc/WU/g_before" in dump.files
    assert float(dump["h.0.mlp.c_fc/WU/lam"]) == DEFAULT_LAM / 2
    checked = cli("validate", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    line = next(line for line in checked.stdout.splitlines() if " WU " in line and " g " in line)
    assert "earlier micro-batches' g + fp32 dW + SR-STE" in line and line.endswith("pass")


# -- masks -----------------------------------------------------------------------------------
def test_masks_per_step_computes_each_layers_masks_once(monkeypatch):
    """Inside ``masks_per_step`` an N:M layer computes its masks at its first forward only
    (the weights do not change within a step); outside, at every forward."""
    from satsim.capture import nm

    calls = []
    compute = nm._forward_masks
    monkeypatch.setattr(nm, "_forward_masks", lambda w, s: calls.append(1) or compute(w, s))
    layer = NMLinear(8, 8, method="bdwp", n=2, m=4)
    x = torch.randn(2, 8)
    with masks_per_step(layer):
        first, second = layer(x), layer(x)
    assert len(calls) == 1 and torch.equal(first, second)
    layer(x), layer(x)
    assert len(calls) == 3


# -- activation checkpointing ----------------------------------------------------------------
@pytest.mark.parametrize("spec", [BDWP, TINY_LLAMA], ids=["gpt2", "llama"])
def test_checkpoint_recomputes_each_block_as_ff_in_the_backward(spec):
    """With ``checkpoint=true`` every decoder block's forward GEMMs run again in the backward
    pass, recorded FF under the block's layers: FF MACs are the plain capture's plus the
    blocks' own, BP and WG are unchanged, and the masks are generated once."""
    blocks = "h." if spec.model == "gpt2-small" else "layers."
    plain = capture(spec)
    recomputed = capture(replace(spec, options={**spec.options, "checkpoint": True}))
    ff = _gemms(plain, Phase.FF)
    in_blocks = [g for g in ff if g.layer.startswith(blocks)]
    assert in_blocks and _macs(_gemms(recomputed, Phase.FF)) == _macs(ff) + _macs(in_blocks)
    for phase in (Phase.BP, Phase.WG):
        assert [_shape(g) for g in _gemms(recomputed, phase)] == [
            _shape(g) for g in _gemms(plain, phase)]
    first_bp = next(i for i, r in enumerate(recomputed.records)
                    if r.kind == "gemm" and r.phase is Phase.BP)
    again = [r for r in recomputed.records[first_bp:] if r.kind == "gemm" and r.phase is Phase.FF]
    assert sorted(map(_shape, again)) == sorted(map(_shape, in_blocks))
    assert Counter(r.kind for r in recomputed.records)["maskgen"] == Counter(
        r.kind for r in plain.records)["maskgen"]
    assert recomputed.header.name == plain.header.name


def test_checkpointed_blocks_save_only_their_inputs(plain, recomputed):
    """A checkpointed block keeps no activation of its own for the backward: the saved
    activations are the plain capture's, less those written inside the blocks, except the
    blocks' inputs and outputs (the embedding sum, each block's residual output)."""
    def saved(trace):
        return {t.id for t in trace.tensors if t.role is Role.SAVED}

    table = plain.tensor_table
    ends = set()
    for n in range(GPT2["layers"]):
        ends.add(next(r for r in plain.records if r.layer.startswith(f"h.{n}.")).reads[0])
        ends.add([r for r in plain.records
                  if r.layer == f"h.{n}" and r.phase is Phase.FF][-1].writes[0])
    in_blocks = {tid for tid in saved(plain) if table[tid].layer.startswith("h.")}
    assert len(in_blocks) > 10 and ends <= saved(plain)
    assert saved(recomputed) == (saved(plain) - in_blocks) | ends


@pytest.mark.parametrize("change", [{"micro_batches": 2}, {"options": CHECKPOINT},
                                    {"micro_batches": 2, "options": CHECKPOINT}],
                         ids=["micro-batches", "checkpoint", "both"])
def test_shapes_only_records_what_the_real_capture_records(change):
    """Each option's shapes-only capture records the real capture's records and tensors."""
    spec = replace(BDWP, **change)
    real, fake = capture(spec), capture(replace(spec, shapes_only=True))
    assert (fake.records, fake.tensors) == (real.records, real.tensors)


def test_llama_shapes_only_with_both_options_matches_the_real_capture():
    """The same for the tiny LLaMA (bf16, AdamW) with micro-batches and checkpointing."""
    spec = replace(TINY_LLAMA, micro_batches=2,
                   options={**TINY_LLAMA.options, "checkpoint": True})
    real, fake = capture(spec), capture(replace(spec, shapes_only=True))
    assert (fake.records, fake.tensors) == (real.records, real.tensors)


def test_satsim_runs_the_traces_on_sat(tmp_path):
    """`satsim run` takes a trace with both options on the ``sat`` preset: every vector op
    they add has a cost there."""
    from satsim.api import run
    from satsim.trace import write_trace

    path = tmp_path / "both.jsonl"
    write_trace(capture(replace(BDWP, micro_batches=2, options=CHECKPOINT, shapes_only=True)),
                path)
    report = run(path, "sat")
    phases = {row["phase"] for row in report.result.rows}
    assert {"FF", "BP", "WG", "WU"} <= phases


# -- bad values ------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (["--micro-batches", "0"], "--micro-batches: micro-batches must be a whole number of at "
                               "least 1, got 0"),
    (["--micro-batches", "-2"], "--micro-batches: micro-batches must be a whole number"),
    (["--micro-batches", "1.5"], "--micro-batches: expected a whole number, got '1.5'"),
    (["--model-option", "checkpoint=true"], "--model-option: resnet9-cifar has no option "
                                            "'checkpoint'"),
])
def test_bad_values_name_their_option(cli, tmp_path, args, expected):
    """A micro-batch count below 1 or not whole, and checkpointing a model without decoder
    blocks: one error line naming the option, exit 2, nothing written."""
    done = cli("capture", "resnet9-cifar", "--method", "dense", "--batch", "2", *args,
               "--out", str(tmp_path / "t.jsonl"))
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert expected in done.stderr and done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_takes_a_boolean():
    """``checkpoint=3`` is refused, naming --model-option."""
    with pytest.raises(SatsimError) as err:
        replace(BDWP, options={**GPT2, "checkpoint": 3}).validate()
    assert err.value.source == "--model-option"
