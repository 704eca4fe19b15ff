"""LLaMA-family decoders in Hugging Face's layout (``embed_tokens``, ``layers.N.self_attn.q_proj``,
``layers.N.mlp.gate_proj``, ``norm``, ``lm_head``), built from a ``config.json`` (no weights).

A block is pre-norm: RMSNorm, attention with rotary position embeddings (RoPE) and grouped-query
attention (GQA), RMSNorm, a SwiGLU MLP (``down(silu(gate(x)) * up(x))``). No linear layer has a
bias, as in the published models.

**GQA without copies.** Each key/value head serves ``g = heads / kv_heads`` query heads. Hugging
Face repeats K and V ``g`` times (a copy); here the ``g`` query heads of a group are stacked
along the rows instead, so one batched GEMM per group computes their scores,
``[g·T, hd] @ [hd, T]``, reading K and V once, as grouped-query kernels do. Head ``h`` uses
key/value head ``h // g``, as in Hugging Face's ``repeat_kv``; the values are the same.

**Causal attention** is written with explicit matmuls and a masked fill (see
:mod:`satsim.capture.models.attention`): the capture records which GEMMs work on the masked
``T x T`` score blocks, so their real work (the lower triangle, diagonal included) is known.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from satsim.capture.models.attention import causal_mask, scores_softmax
from satsim.capture.models.checkpointing import run_blocks
from satsim.errors import SatsimError

CONFIGS = Path(__file__).with_name("llama_configs")


class LlamaConfig(BaseModel):
    """The fields of a Hugging Face ``LlamaConfig`` that shape the model (others are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    hidden_size: int = Field(ge=1)
    intermediate_size: int = Field(ge=1)
    num_hidden_layers: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_key_value_heads: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    max_position_embeddings: int = Field(ge=1)
    rms_norm_eps: float = Field(gt=0, allow_inf_nan=False)
    rope_theta: float = Field(gt=0, allow_inf_nan=False)
    tie_word_embeddings: StrictBool
    # Optional fields that would change the shapes or the work: only the LLaMA values are
    # modelled, anything else is refused rather than ignored.
    head_dim: int | None = Field(default=None, ge=1)
    attention_bias: Literal[False] = False
    mlp_bias: Literal[False] = False
    hidden_act: Literal["silu"] = "silu"

    @model_validator(mode="after")
    def _heads(self) -> LlamaConfig:
        if self.head_dim not in (None, self.hidden_size // self.num_attention_heads):
            raise ValueError(f"head_dim {self.head_dim} is not hidden_size / "
                             "num_attention_heads: not modelled")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"num_attention_heads {self.num_attention_heads} does not divide "
                             f"hidden_size {self.hidden_size}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_key_value_heads {self.num_key_value_heads} does not divide "
                             f"num_attention_heads {self.num_attention_heads}")
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError(f"the head size {self.hidden_size // self.num_attention_heads} "
                             "is odd: rotary embeddings rotate pairs of features")
        return self

    @property
    def head_size(self) -> int:
        """Features per attention head."""
        return self.hidden_size // self.num_attention_heads


# Whole-model checks whose message names a field, for the error line.
_CHECK_FIELD = {"head_dim ": "head_dim", "num_attention_heads ": "num_attention_heads",
                "num_key_value_heads ": "num_key_value_heads", "the head size": "hidden_size"}


def load_config(path: str | Path) -> LlamaConfig:
    """Read and validate a Hugging Face-style ``config.json``; a :class:`SatsimError` names the
    file and the field at fault."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SatsimError(f"cannot read the model config: {exc.strerror}", source=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SatsimError(f"not JSON: {exc}", source=path) from None
    if not isinstance(data, dict):
        raise SatsimError("expected a JSON object of config fields", source=path)
    try:
        return LlamaConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        reason = err["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in err["loc"]) or next(
            (f for start, f in _CHECK_FIELD.items() if reason.startswith(start)), None)
        if err["type"] == "missing":
            reason = "required field is missing"
        raise SatsimError(reason, source=path, field=field) from None


class RMSNorm(torch.nn.Module):
    """``x / sqrt(mean(x²) + eps) * weight``, computed in fp32 as Hugging Face's LlamaRMSNorm."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaAttention(torch.nn.Module):
    """Causal grouped-query self-attention with RoPE: ``q_proj``, ``k_proj``, ``v_proj``,
    ``o_proj`` (no biases)."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        hd, heads, kv = cfg.head_size, cfg.num_attention_heads, cfg.num_key_value_heads
        self.heads, self.kv_heads, self.head_dim = heads, kv, hd
        self.q_proj = torch.nn.Linear(cfg.hidden_size, heads * hd, bias=False)
        self.k_proj = torch.nn.Linear(cfg.hidden_size, kv * hd, bias=False)
        self.v_proj = torch.nn.Linear(cfg.hidden_size, kv * hd, bias=False)
        self.o_proj = torch.nn.Linear(heads * hd, cfg.hidden_size, bias=False)
        context = cfg.max_position_embeddings
        inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        angles = torch.outer(torch.arange(context, dtype=torch.float64), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        # Tables and mask are constants, not saved in state_dict.
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)
        self.register_buffer("causal_mask", causal_mask(context), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        g, hd = self.heads // self.kv_heads, self.head_dim
        q = self.q_proj(x).view(b, t, self.heads, hd).transpose(1, 2)  # [B, H, T, hd]
        k = self.k_proj(x).view(b, t, self.kv_heads, hd).transpose(1, 2)  # [B, Hkv, T, hd]
        v = self.v_proj(x).view(b, t, self.kv_heads, hd).transpose(1, 2)
        cos, sin = self.cos[:t].to(q.dtype), self.sin[:t].to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # A group's g query heads stacked along the rows: [B, Hkv, g*T, hd].
        q = q.reshape(b, self.kv_heads, g * t, hd)
        scores = (q @ k.transpose(-2, -1)) * hd ** -0.5  # [B, Hkv, g*T, T]
        mask = self.causal_mask[:t, :t]
        p = scores_softmax(scores.view(b, self.kv_heads, g, t, t), mask)
        out = p.view(b, self.kv_heads, g * t, t) @ v  # [B, Hkv, g*T, hd]
        out = out.view(b, self.heads, t, hd).transpose(1, 2).reshape(b, t, self.heads * hd)
        return self.o_proj(out)


class LlamaMlp(torch.nn.Module):
    """SwiGLU: ``down_proj(silu(gate_proj(x)) * up_proj(x))``."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = torch.nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = torch.nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = torch.nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(torch.nn.Module):
    """Pre-norm decoder layer: ``input_layernorm``, ``self_attn``, ``post_attention_layernorm``,
    ``mlp``."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = LlamaAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = LlamaMlp(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(torch.nn.Module):
    """A LLaMA-family causal language model: token ids [B, T] -> logits [B, T, vocab].

    Weights are initialised as Hugging Face does (normal, std 0.02; norms at one). With
    ``tie_word_embeddings`` the ``lm_head`` weight *is* ``embed_tokens``'s. ``checkpoint``:
    activation checkpointing of every decoder layer (:mod:`satsim.capture.models.checkpointing`).
    """

    def __init__(self, cfg: LlamaConfig, checkpoint: bool = False):
        super().__init__()
        self.config, self.checkpoint = cfg, checkpoint
        self.embed_tokens = torch.nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = torch.nn.ModuleList(LlamaBlock(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = torch.nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        for m in self.modules():
            if isinstance(m, torch.nn.Linear | torch.nn.Embedding):
                torch.nn.init.normal_(m.weight, std=0.02)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.config.max_position_embeddings:
            raise ValueError(f"sequence of {t} tokens exceeds max_position_embeddings "
                             f"{self.config.max_position_embeddings}")
        x = run_blocks(self.layers, self.embed_tokens(idx), self.checkpoint)
        return self.lm_head(self.norm(x))


def llama_builder(cfg: LlamaConfig) -> Callable[..., Llama]:
    """A zoo builder for ``cfg``: ``layers`` keeps the first decoder layers (a shorter model of
    the same width, for depth studies); ``checkpoint`` checkpoints every decoder layer."""

    def build(*, layers: int = cfg.num_hidden_layers, checkpoint: bool = False) -> Llama:
        return Llama(cfg.model_copy(update={"num_hidden_layers": layers}), checkpoint)

    return build


def count_parameters(cfg: LlamaConfig) -> int:
    """The parameter count the config implies (no biases; norms have one weight each)."""
    d, hd = cfg.hidden_size, cfg.head_size
    attn = 2 * d * d + 2 * d * cfg.num_key_value_heads * hd
    block = attn + 3 * d * cfg.intermediate_size + 2 * d
    head = 0 if cfg.tie_word_embeddings else cfg.vocab_size * d
    return cfg.num_hidden_layers * block + cfg.vocab_size * d + d + head
