#!/usr/bin/env bash
# Regenerate the captured traces shipped in workloads/ (needs the torch extra):
#   bash workloads/recipes/capture.sh
# Every zoo model x {dense, srste 2:8, bdwp 2:8}: 2 real optimizer steps, the last one traced.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1

capture() {  # model batch
    for method in dense srste bdwp; do
        satsim capture "$1" --method "$method" --nm 2:8 --batch "$2" --out "$1-$method.jsonl"
    done
}

capture resnet18-cifar 32
capture vgg16-cifar 32
capture resnet50-imagenet 8
capture vit-tiny 8
capture gpt2-small 1
# A small capture with tensor dumps for the numerics issue.
satsim capture resnet18-cifar --method bdwp --nm 2:8 --batch 1 \
    --dump-tensors layer1.0.conv1 --out resnet18-cifar-bdwp-dump.jsonl
