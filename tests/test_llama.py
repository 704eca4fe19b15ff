"""The LLaMA family: models built from config.json files, GQA and RoPE as the reference
computes them, causal attention's real work recorded, captures at full size, bad configs."""

import json
import math
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from satsim.capture.capture import CaptureSpec, capture  # noqa: E402
from satsim.capture.models.llama import CONFIGS, Llama, load_config  # noqa: E402
from satsim.trace.schema import GemmOp  # noqa: E402
from satsim.types import NMPattern, Phase  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TINY = CONFIGS / "llama-tiny.json"  # d256, 2 layers, 4 heads, 2 KV heads, vocab 512


def _small(**changes) -> Llama:
    cfg = load_config(TINY).model_copy(update={"hidden_size": 32, "intermediate_size": 40,
                                               "vocab_size": 50, "max_position_embeddings": 16,
                                               **changes})
    torch.manual_seed(0)
    return Llama(cfg)


def _reference_attention(attn, x: torch.Tensor) -> torch.Tensor:
    """Hugging Face's LlamaAttention written out independently: RoPE rotating feature i with
    feature i + hd/2 by position · theta^(-2i/hd), K and V repeated per query head, softmax
    attention with the causal mask (torch's SDPA)."""
    b, t, _ = x.shape
    h, kv, hd = attn.heads, attn.kv_heads, attn.head_dim
    theta = 10000.0
    q = attn.q_proj(x).view(b, t, h, hd).transpose(1, 2)
    k = attn.k_proj(x).view(b, t, kv, hd).transpose(1, 2)
    v = attn.v_proj(x).view(b, t, kv, hd).transpose(1, 2)
    freq = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angle = torch.arange(t, dtype=torch.float64)[:, None] * freq  # [T, hd/2]
    cos, sin = angle.cos().float(), angle.sin().float()

    def rope(z):
        lo, hi = z[..., : hd // 2], z[..., hd // 2:]
        return torch.cat((lo * cos - hi * sin, hi * cos + lo * sin), dim=-1)

    q, k = rope(q), rope(k)
    k, v = k.repeat_interleave(h // kv, dim=1), v.repeat_interleave(h // kv, dim=1)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    return attn.o_proj(out.transpose(1, 2).reshape(b, t, h * hd))


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_grouped_query_attention_equals_the_reference(kv_heads):
    """Stacking a group's query heads along the rows (no K/V copies) computes what repeating
    K and V per head computes, with RoPE and the causal mask: MHA, GQA and MQA."""
    model = _small(num_key_value_heads=kv_heads)
    attn = model.layers[0].self_attn
    x = torch.randn(2, 12, 32)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), _reference_attention(attn, x))


def test_llama_is_causal():
    """Changing the last token leaves the logits of every earlier position unchanged."""
    model = _small()
    x = torch.randint(0, 50, (2, 10))
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    with torch.no_grad():
        before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :-1], after[:, :-1])
    assert not torch.allclose(before[:, -1], after[:, -1])


def _tiny_spec(method: str, **changes) -> CaptureSpec:
    nm = None if method == "dense" else NMPattern(2, 4)
    return CaptureSpec(model="llama-tiny", model_config=str(TINY), method=method, nm=nm,
                       batch=2, options={"seq": 32}, **changes)


@pytest.fixture(scope="module")
def tiny_traces():
    return {method: capture(_tiny_spec(method)) for method in ("dense", "srste", "bdwp")}


@pytest.mark.parametrize("method", ["dense", "srste", "bdwp"])
def test_tiny_capture_prunes_every_linear_but_the_head(tiny_traces, method):
    """A real bf16 capture of the tiny config: the 14 projections of its two layers are N:M
    (measured) under srste and bdwp, dense under dense; lm_head stays dense; the step runs in
    bf16, the model's default precision."""
    trace = tiny_traces[method]
    ff = {op.layer: op for op in trace.gemms if op.phase is Phase.FF and op.weight}
    assert len(ff) == 15 and trace.header.precision == "bf16"
    sparse = {layer for layer, op in ff.items() if op.sparsity is not None}
    expected = set() if method == "dense" else set(ff) - {"lm_head"}
    assert sparse == expected
    assert all(op.dtype == "bfloat16" for op in trace.gemms)
    bp_sparse = {op.layer for op in trace.gemms if op.phase is Phase.BP and op.sparsity}
    assert bp_sparse == (expected if method == "bdwp" else set())


@pytest.mark.parametrize("method", ["dense", "srste", "bdwp"])
def test_shapes_only_twin_records_what_the_real_capture_records(tiny_traces, method):
    """The shapes-only capture of the tiny config (no values, FakeTensorMode) gives the same
    records and tensors as the real one."""
    fake = capture(replace(_tiny_spec(method), shapes_only=True))
    assert (fake.records, fake.tensors) == (tiny_traces[method].records,
                                            tiny_traces[method].tensors)


def test_causal_attention_gemms_record_their_real_work(tiny_traces):
    """All six attention GEMMs of a layer (QK^T and PV forward, four gradients) are marked
    causal over the dimensions of their score blocks, and their real MACs are those of the
    lower triangles: B · H · hd · T(T+1)/2 each (2 KV heads of 2 query heads each)."""
    b, t, heads, hd = 2, 32, 4, 64
    for layer in ("layers.0.self_attn", "layers.1.self_attn"):
        ops = [op for op in tiny_traces["bdwp"].gemms if op.layer == layer]
        assert [(op.phase, op.causal) for op in ops] == [
            (Phase.FF, "MN"), (Phase.FF, "MK"),
            (Phase.BP, "MK"), (Phase.BP, "MN"), (Phase.BP, "KN"), (Phase.BP, "MK")]
        assert all(op.real_macs == b * heads * hd * t * (t + 1) // 2 for op in ops)
        assert all(op.macs == b * heads * hd * t * t for op in ops)
    projections = [op for op in tiny_traces["bdwp"].gemms if op.weight]
    assert all(op.causal is None and op.real_macs == op.macs for op in projections)


def test_gemm_record_refuses_causal_blocks_that_do_not_tile():
    """A causal GEMM's two dimensions are g stacked T x T blocks: 48 x 32 is not."""
    with pytest.raises(ValueError, match="not whole T x T"):
        GemmOp(phase="FF", layer="a", M=48, K=8, N=32, causal="MN")


def test_llama3_8b_key_and_value_projections_are_1024_wide():
    """LLaMA-3-8B's 8 KV heads of 128: K and V projections have N = 1024 (shapes only)."""
    spec = CaptureSpec(model="llama3-8b", method="dense", nm=None, batch=1, shapes_only=True,
                       options={"seq": 16, "layers": 1})
    trace = capture(spec)
    widths = {op.layer: op.N for op in trace.gemms if op.phase is Phase.FF and op.weight}
    assert widths["layers.0.self_attn.k_proj"] == widths["layers.0.self_attn.v_proj"] == 1024
    assert widths["layers.0.self_attn.q_proj"] == 4096
    assert widths["layers.0.mlp.gate_proj"] == 14336 and widths["lm_head"] == 128256


def test_llama2_7b_ff_macs_per_token_equal_the_analytic_count():
    """The shipped llama2-7b trace's FF weight GEMMs do (4·4096² + 3·4096·11008)·32 +
    4096·32000 MACs per token, and its attention scores B·H·hd·T(T+1)/2 real MACs per
    GEMM (T = 2048: the explicit lowering computes T² of them)."""
    from satsim.resources import data_dir
    from satsim.trace import read_trace

    trace = read_trace(data_dir("workloads") / "llama2-7b-dense.jsonl")
    tokens = trace.header.meta["batch"] * trace.header.meta["options"]["seq"]
    ff = [op for op in trace.gemms if op.phase is Phase.FF]
    weights = sum(op.macs for op in ff if op.weight)
    assert weights == tokens * ((4 * 4096**2 + 3 * 4096 * 11008) * 32 + 4096 * 32000)
    assert weights / tokens == pytest.approx(6.61e9, rel=1e-3)
    scores = [op for op in ff if op.weight is None]
    assert len(scores) == 2 * 32 and all(op.causal for op in scores)
    assert {op.real_macs for op in scores} == {32 * 128 * 2048 * 2049 // 2}


@pytest.mark.parametrize(("change", "field", "expected"), [
    ({"hidden_size": None}, "hidden_size", "required field is missing"),
    ({"num_attention_heads": 6}, "num_attention_heads", "does not divide hidden_size"),
    ({"num_key_value_heads": 3}, "num_key_value_heads", "does not divide num_attention_heads"),
    ({"intermediate_size": -5}, "intermediate_size", "greater than or equal to 1"),
    ({"rope_theta": "big"}, "rope_theta", "valid number"),
    ({"head_dim": 32}, "head_dim", "not modelled"),
    ({"attention_bias": True}, "attention_bias", "False"),
])
def test_bad_config_is_one_error_line_naming_file_and_field(cli, tmp_path, change, field,
                                                            expected):
    """A config with a field missing, heads not dividing the hidden size, KV heads not dividing
    the heads, a negative size, a wrong type or an unmodelled option: one `error:` line naming
    the file and the field, exit 2, no trace written."""
    data = json.loads(TINY.read_text())
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(data))
    out = tmp_path / "t.jsonl"
    done = cli("capture", "--model-config", str(config), "--method", "dense", "--batch", "1",
               "--shapes-only", "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "bad.json" in done.stderr and field in done.stderr and expected in done.stderr
    assert not out.exists()


def test_model_config_capture_names_the_trace_after_the_file(cli, tmp_path):
    """`satsim capture --model-config F.json` builds the model F describes, names the trace
    after it and keeps the config in the header."""
    out = tmp_path / "t.jsonl"
    done = cli("capture", "--model-config", str(TINY), "--method", "bdwp", "--nm", "2:4",
               "--batch", "1", "--shapes-only", "--model-option", "seq=8", "--out", str(out))
    assert done.returncode == 0, done.stderr
    header = json.loads(out.read_text().splitlines()[0])
    assert header["name"] == "llama-tiny"
    assert header["meta"]["model_config"]["num_key_value_heads"] == 2
    assert header["precision"] == "bf16"


def test_parameter_count_of_the_config_matches_the_model():
    """The tiny config's model has the parameters its config implies (untied head)."""
    from satsim.capture.models.llama import count_parameters

    cfg = load_config(TINY)
    model = Llama(cfg)
    assert sum(p.numel() for p in model.parameters()) == count_parameters(cfg)
    d, kv = 256, 2 * 64
    assert count_parameters(cfg) == 2 * (2 * d * d + 2 * d * kv + 3 * d * 688 + 2 * d) + \
        2 * 512 * d + d
    assert math.isclose(cfg.rope_theta, 1e4)


def test_llms_train_with_adamw_on_fp32_masters_by_default(tiny_traces):
    """The LLaMA family's default step: bf16 GEMMs, AdamW with two fp32 moments per parameter,
    updates over every parameter (their element counts sum to the parameter count), each
    writing the bf16 copy the next step's GEMMs read."""
    from satsim.capture.models.llama import count_parameters
    from satsim.trace.schema import Role, UpdateOp

    trace = tiny_traces["bdwp"]
    assert trace.header.meta["optimizer"] == "adamw" and trace.header.precision == "bf16"
    updates = [r for r in trace.records if isinstance(r, UpdateOp)]
    assert sum(u.elements for u in updates) == count_parameters(load_config(TINY))
    table = trace.tensor_table
    for update in updates:
        states = [t for t in update.reads if table[t].role is Role.OPTIMIZER_STATE]
        assert len(states) == 2 and all(table[t].dtype == "float32" for t in states)
    copies = {table[t].dtype for u in updates for t in u.writes
              if table[t].role is Role.PARAMETER and table[t].of is not None}
    assert copies == {"bfloat16"}


def test_shipped_tiny_llama_dump_validates(cli):
    """The shipped tiny LLaMA BDWP 2:4 capture (bf16, AdamW) and its tensor dump: `satsim
    validate` checks the grouped-query K projection and the SwiGLU output projection in FF,
    BP and WG (bf16 operands), both masks, and the AdamW update bit for bit, and all pass."""
    done = cli("validate", "llama-tiny-bdwp")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for layer in ("layers.0.self_attn.k_proj", "layers.0.mlp.down_proj"):
        rows = [line for line in lines if line.startswith(layer)]
        phases = {line.split()[1] for line in rows}
        assert {"FF", "BP", "WG", "MASK", "WU"} <= phases
        assert any("exp_avg_sq_new" in line for line in rows)
    assert lines[-1].endswith("0 failed: PASS")
