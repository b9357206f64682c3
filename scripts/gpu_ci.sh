#!/usr/bin/env bash
# GPU CI job: the project's tests, then phase 1 (five seeds) on the 88M preset at 1M
# tokens, printing the variance table and throughput. Run from the repository root on a
# machine with one CUDA GPU and its CUDA torch already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pytest tests/ -q -rs
python3 benchmarks/train_speed.py --preset gpu-88m --tokens 1000000 --seeds 2
WS=${RESEARCH_GPU_WORKSPACE:-gpu_ci_workspace}
python3 -m pytest experiments/ -k "smoke or baseline" --research-preset gpu-88m --research-device cuda \
  --research-dir "$WS" --research-report -q
cat "$WS"/docs/research/baseline_variance_1M.md
