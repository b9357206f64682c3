"""scripts/gpu_ci.sh rehearsed on a CPU (GPU_CI_DRY=1): every step it would run on a GPU
machine runs here at the tiny preset, so a broken option or path is found before the
scarce device time is spent on it. The figures of a dry run mean nothing; only that each
step ran and wrote its files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_script_runs_every_step_end_to_end_on_a_cpu(data_dir, tmp_path, require_sandbox):
    out = tmp_path / "out"
    env = {**os.environ, "GPU_CI_DRY": "1", "RESEARCH_GPU_TESTS": "0", "OUT": str(out), "OMP_NUM_THREADS": "1",
           "RESEARCH_GPU_WORKSPACE": str(tmp_path / "ws"), "TMPDIR": str(tmp_path)}
    run = subprocess.run(["bash", "scripts/gpu_ci.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0 and "[gpu_ci] all steps passed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    assert "DRY RUN on the CPU" in (out / "device.txt").read_text()
    for step in ("speed", "phases01", "ideas_per_hour"):
        assert f"[gpu_ci] step: {step}" in run.stdout
    speed = json.loads((out / "bench_88m.json").read_text())
    assert speed["preset"] == "tiny" and speed["device"]["name"] and not speed["compiled"]
    assert speed["profile"] and speed["rerun_val_losses"]
    throughput = json.loads((out / "ideas_per_hour_88m.json").read_text())
    assert throughput["ideas_judged"] >= 1 and throughput["ideas_per_hour"] > 0
    assert list(out.glob("baseline_variance_*.md")) and "passed" in (out / "phase01.txt").read_text()
    assert "baseline" in (out / "runs.txt").read_text()
