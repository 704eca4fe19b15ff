"""The model zoo's registry: the networks whose training GEMMs satsim captures.

Each entry names a builder from :mod:`satsim.capture.models` (written with ``torch.nn`` alone,
full size by default) and the shape of one input sample, so a capture can build the model and
an example batch from the name alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from satsim.capture.models.gpt2 import gpt2_small
from satsim.capture.models.llama import (
    CONFIGS,
    LlamaConfig,
    count_parameters,
    llama_builder,
    load_config,
)
from satsim.capture.models.resnet import resnet9_cifar, resnet18_cifar, resnet50_imagenet
from satsim.capture.models.vgg import vgg16_cifar, vgg19_cifar
from satsim.capture.models.vit import vit_tiny
from satsim.errors import SatsimError

PAPER = "SAT paper (Fang et al., TCAD 2023)"


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry: how to build the model and what one full-size input sample looks like.

    ``input_shape`` is per sample: ``(C, H, W)`` for images, ``(seq_len,)`` for tokens.
    ``num_classes`` is the output width (the vocabulary for a language model). ``paper_name``
    is the name of the model this entry stands for among the five that the SAT paper (Fang et
    al., "Efficient N:M Sparse DNN Training Using Algorithm, Architecture, and Dataflow
    Co-Design", TCAD 2023) evaluates, or ``None`` for a model outside that evaluation.
    """

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    num_classes: int
    input_kind: Literal["image", "tokens"]
    description: str
    paper_name: str | None = None
    # How the model is trained when the capture does not say: LLMs in bf16 with AdamW.
    precision: str = "fp32"
    optimizer: str = "sgd-momentum"


# The SAT paper's five models first, in the paper's order, then the others. Every image model
# takes num_classes and image_size: num_classes=100 (CIFAR-100), num_classes=200 image_size=64
# (Tiny ImageNet).
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("resnet9-cifar", resnet9_cifar, (3, 32, 32), 10, "image",
                  "ResNet-9 (Page's DAWNBench net), CIFAR, 6.57M parameters", "ResNet-9"),
        ModelSpec("vit-tiny", vit_tiny, (3, 224, 224), 1000, "image",
                  "DeiT-Tiny (ViT-Ti/16), ImageNet, 5.7M parameters", "ViT"),
        ModelSpec("vgg19-cifar", vgg19_cifar, (3, 32, 32), 10, "image",
                  "VGG-19 with batch-norm, one Linear classifier, CIFAR, 20.0M parameters",
                  "VGG-19"),
        ModelSpec("resnet18-cifar", resnet18_cifar, (3, 32, 32), 10, "image",
                  "ResNet-18, CIFAR stem (3x3/1, no max-pool), 11.2M parameters", "ResNet-18"),
        ModelSpec("resnet50-imagenet", resnet50_imagenet, (3, 224, 224), 1000, "image",
                  "ResNet-50 v1.5 (stride on the 3x3), ImageNet, 25.6M parameters",
                  "ResNet-50"),
        ModelSpec("vgg16-cifar", vgg16_cifar, (3, 32, 32), 10, "image",
                  "VGG-16 with batch-norm, one Linear classifier, CIFAR, 14.7M parameters"),
        ModelSpec("gpt2-small", gpt2_small, (1024,), 50257, "tokens",
                  "GPT-2 small, causal, tied lm_head, 124M parameters"),
    )
}

# LLaMA-family decoders from the config.json files shipped beside the model (their sources are
# in each file's "_source" field), smallest first.
LLAMAS = {"tinyllama-1.1b": "TinyLlama-1.1B", "llama2-7b": "LLaMA-2-7B",
          "llama3-8b": "LLaMA-3-8B", "llama2-13b": "LLaMA-2-13B"}


def llama_spec(config: str | Path | LlamaConfig, name: str | None = None,
               title: str | None = None) -> ModelSpec:
    """A zoo entry for the LLaMA-family model a Hugging Face-style ``config.json`` describes
    (a file, or its fields already read; ``name``: the file's stem by default)."""
    cfg = config if isinstance(config, LlamaConfig) else load_config(config)
    name = name or Path(config).stem
    params = count_parameters(cfg)
    gqa = (f", GQA {cfg.num_key_value_heads} KV heads"
           if cfg.num_key_value_heads < cfg.num_attention_heads else "")
    return ModelSpec(
        name, llama_builder(cfg), (cfg.max_position_embeddings,), cfg.vocab_size, "tokens",
        f"{title or name}: d{cfg.hidden_size}, {cfg.num_hidden_layers} layers, "
        f"{cfg.num_attention_heads} heads{gqa}, SwiGLU {cfg.intermediate_size}, RoPE, "
        f"RMSNorm, {params / 1e9:.2f}B parameters", precision="bf16", optimizer="adamw")


MODELS.update({name: llama_spec(CONFIGS / f"{name}.json", name, title)
               for name, title in LLAMAS.items()})


def spec_of(meta: dict) -> ModelSpec:
    """The zoo entry a capture's header ``meta`` names: its model, or the LLaMA config it
    keeps (``--model-config``)."""
    if "model_config" in meta:
        return llama_spec(LlamaConfig.model_validate(meta["model_config"]), meta["model"])
    return get_spec(meta["model"])


def get_spec(name: str) -> ModelSpec:
    """The registry entry called ``name``; :class:`SatsimError` if there is none."""
    try:
        return MODELS[name]
    except KeyError:
        raise SatsimError(f"unknown model {name!r} (models: {', '.join(MODELS)})") from None


def build_model(name: str, **options: Any) -> nn.Module:
    """Build zoo model ``name``; ``options`` go to its builder (full size by default)."""
    return get_spec(name).build(**options)


def input_spec(spec: ModelSpec | str, **options: Any) -> tuple[tuple[int, ...], int]:
    """Per-sample input shape and class count (the vocabulary, for tokens) of a variant.

    Images are ``[C, S, S]`` with ``S = options["image_size"]`` if given. Tokens are ``[T]``
    with ``T = options["seq"]``, else ``options["context"]``, else the full context. Other
    options (``width``, ``depth`` ...) are ignored, so one dict serves the builder and this.
    """
    if isinstance(spec, str):
        spec = get_spec(spec)
    if spec.input_kind == "tokens":
        context = int(options.get("context", spec.input_shape[0]))
        seq = int(options.get("seq", context))
        if not 0 < seq <= context:
            raise SatsimError(f"seq {seq} must be in 1..{context} (the context)")
        return (seq,), int(options.get("vocab", spec.num_classes))
    channels, *side = spec.input_shape
    size = int(options.get("image_size", side[0]))
    return (channels, size, size), int(options.get("num_classes", spec.num_classes))


def example_input(spec: ModelSpec | str, batch: int = 1, *, seed: int = 0,
                  **options: Any) -> torch.Tensor:
    """A random input batch for ``spec``, shaped for the variant ``options`` describe
    (see :func:`input_spec`): standard-normal images or uniform token ids."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    shape, classes = input_spec(spec, **options)
    gen = torch.Generator().manual_seed(seed)
    if spec.input_kind == "tokens":
        return torch.randint(0, classes, (batch, *shape), generator=gen)
    return torch.randn(batch, *shape, generator=gen)
