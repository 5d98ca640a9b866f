#!/usr/bin/env bash
# main.sh — set up, build, and run the main job: prove the network exact
# against PyTorch's reference cases, then `gradflow demo`: plain and residual
# nets on Fashion-MNIST on a short budget, with a report of what it measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ref=../shared/reference
if [ -d "$ref" ]; then
  ./build/gradflow verify --quiet "$ref"/*.h5
fi
./build/gradflow demo -o gradflow-demo "$@"
