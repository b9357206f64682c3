#!/usr/bin/env bash
# GPU CI job, one prepared script: the project's tests on the GPU machine, the 88M preset's
# speed (steady-state tokens/s, MFU, cold compile, the 5-seed phase in one process, val_loss
# mean ± std at 1M tokens, the spread of a rerun of identical code: the flag-off tolerance),
# then phases 0-1 through pytest on CUDA. Run from the repository root on a machine with one
# CUDA GPU and its CUDA torch installed. Figures go to $OUT (default gpu_ci_out/); copy them
# into docs/BENCHMARKS.md with the device name the benchmark prints.
#   RESEARCH_GPU_TESTS=0 skips the test suite (e.g. when the device time is short).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_ci_out}
mkdir -p "$OUT"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible to torch'; print('[gpu_ci]', torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"
bash scripts/setup.sh --test 2>&1 | tail -3
if [ "${RESEARCH_GPU_TESTS:-1}" != 0 ]; then
  python3 -m pytest tests/ -q -rs -x -p no:cacheprovider 2>&1 | tail -15 | tee "$OUT/tests.txt"
fi
export TORCHINDUCTOR_CACHE_DIR=$(mktemp -d)   # a cold compile cache: the first-run figure is honest
python3 benchmarks/train_speed.py --preset gpu-88m --tokens 1000000 --seeds 5 --rerun 2 --json "$OUT/bench_88m.json" \
  2>&1 | tee "$OUT/bench_88m.txt"
WS=${RESEARCH_GPU_WORKSPACE:-$OUT/workspace}
python3 -m pytest experiments/ -m "research_smoke or research_baseline" --research-preset gpu-88m \
  --research-device cuda --research-dir "$WS" --research-report -q -p no:cacheprovider 2>&1 | tail -25 | tee "$OUT/phase01.txt"
cp "$WS"/docs/research/baseline_variance_1M.md "$OUT/" 2>/dev/null || true
cat "$OUT/baseline_variance_1M.md" 2>/dev/null | head -8
