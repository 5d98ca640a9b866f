#!/usr/bin/env bash
# main.sh — set up, build, and run the main job: prove the network exact
# against PyTorch, then train resnet-20 on Fashion-MNIST on a short budget.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ref=../shared/reference
if [ -d "$ref" ]; then
  ./build/gradflow verify --quiet "$ref"/*.h5
fi
mkdir -p runs
./build/gradflow train --model resnet-20 --data fashion-mnist --subset 10000 --epochs 2 \
  --batch 128 -o runs/resnet20-fmnist.h5
