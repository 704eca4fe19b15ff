#!/usr/bin/env bash
# Regenerate the captured traces shipped in workloads/ (needs the torch extra):
#   bash workloads/recipes/capture.sh
# The CNNs, ViT and GPT-2 x {dense, srste 2:8, bdwp 2:8}: 2 real optimizer steps in fp32, the last one
# traced. One thread: the thread count changes seeded results (it is recorded in the trace).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1

capture() {  # model batch [capture options]
    local model=$1 batch=$2
    shift 2
    satsim capture "$model" --method dense --batch "$batch" "$@" --out "$model-dense.jsonl"
    for method in srste bdwp; do
        satsim capture "$model" --method "$method" --nm 2:8 --batch "$batch" "$@" \
            --out "$model-$method.jsonl"
    done
}

# The SAT paper's five (Fang et al., TCAD 2023), then the others.
capture resnet9-cifar 32
capture vit-tiny 8
capture vgg19-cifar 32
capture resnet18-cifar 32
capture resnet50-imagenet 8
capture vgg16-cifar 32
# One 512-token sequence: the full 1,024-token context needs 2.7-2.9 GB to capture in fp32
# (docs/capture.md), half the context fits 2 GB.
capture gpt2-small 1 --model-option seq=512
# Tensor dumps for the functional model: three resnet18-cifar layers (a stride-1 conv, a
# stride-2 conv, the classifier) in bf16 at batch 2.
satsim capture resnet18-cifar --method bdwp --nm 2:8 --batch 2 --precision bf16 \
    --dump-tensors layer1.0.conv1,layer2.0.conv1,fc --out resnet18-cifar-bdwp-dump.jsonl
# LLMs (bf16 autocast, AdamW on fp32 masters: the LLaMA family's defaults) at 2:4, the pattern
# LLM work uses. LLaMA-2-7B shapes only (no values: N:M as configured) at one 2,048-token
# sequence; the tiny LLaMA config (d256, 2 layers, GQA) captured for real, the BDWP step with
# tensor dumps of a grouped-query K projection and the SwiGLU MLP's output projection for the
# functional model.
satsim capture llama2-7b --method dense --batch 1 --model-option seq=2048 --shapes-only \
    --out llama2-7b-dense.jsonl
for method in srste bdwp; do
    satsim capture llama2-7b --method "$method" --nm 2:4 --batch 1 --model-option seq=2048 \
        --shapes-only --out "llama2-7b-$method.jsonl"
done
TINY_LLAMA=../satsim/capture/models/llama_configs/llama-tiny.json
satsim capture --model-config "$TINY_LLAMA" --method dense --batch 2 --model-option seq=64 \
    --out llama-tiny-dense.jsonl
satsim capture --model-config "$TINY_LLAMA" --method srste --nm 2:4 --batch 2 \
    --model-option seq=64 --out llama-tiny-srste.jsonl
satsim capture --model-config "$TINY_LLAMA" --method bdwp --nm 2:4 --batch 2 \
    --model-option seq=64 --out llama-tiny-bdwp.jsonl \
    --dump-tensors layers.0.self_attn.k_proj,layers.0.mlp.down_proj   # and llama-tiny-bdwp.npz
