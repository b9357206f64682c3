"""The train_llm.py command line and the data cache: one clear message and a non-zero
exit for every bad input; caches keyed by what built them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer.corpus import split_documents, default_documents
from trainer.data import DataError, prepare_data

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "train_llm.py"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--train_tokens", "-5"], "must be positive"),
    (["--train_tokens", "lots"], "expected a whole number"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--use_warp_drive", "true"], "unknown idea flag --use_warp_drive; known flags: --use_"),
    (["--use_z_loss", "maybe"], "expected true or false"),
])
def test_bad_cli_values_fail_with_one_clear_message(args, message, data_dir):
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr


def test_cli_trains_writes_metrics_and_protects_finished_runs(data_dir, tmp_path):
    out = tmp_path / "run"
    ok = cli("--preset", "tiny", "--train_tokens", "3000", "--seed", "42", "--output_dir", str(out))
    assert ok.returncode == 0, ok.stderr
    assert "Step " in ok.stdout and "| val_loss: " in ok.stdout and "preset tiny" in ok.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["seed"] == 42
    again = cli("--preset", "tiny", "--train_tokens", "3000", "--seed", "42", "--output_dir", str(out))
    assert again.returncode == 2 and "already holds a finished run" in again.stderr and "--overwrite" in again.stderr
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_list_ideas_names_every_idea_with_its_category(data_dir):
    from trainer.ideas import discover_ideas

    result = cli("--list_ideas")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    ideas = discover_ideas()
    assert len(lines) == len(ideas)
    for name, idea in ideas.items():
        assert any(line.startswith(f"--use_{name} ") and f"[{idea.category}]" in line for line in lines), name


def test_split_is_by_document_and_validation_is_large_enough(corpus):
    docs = default_documents()
    train, val = split_documents(docs)
    assert not {d.name for d in train} & {d.name for d in val}
    assert {d.name for d in train} | {d.name for d in val} == {d.name for d in docs}
    assert len(corpus.val) >= 100_000 and len(corpus.train) > 2_000_000
    assert set(corpus.meta["val_documents"]) == {d.name for d in val}


def _write_docs(folder: Path, n=6, extra=""):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"doc{i}.txt").write_text(f"Document {i}. " + "the quick brown fox jumps over the lazy dog. " * 200 + extra)


def test_cache_is_reused_and_rebuilt_when_its_inputs_change(tmp_path):
    texts, cache = tmp_path / "texts", tmp_path / "cache"
    _write_docs(texts)
    logs: list[str] = []
    first = prepare_data(300, data_paths=[str(texts)], cache_dir=cache, log=logs.append)
    assert any("building" in line for line in logs)
    logs.clear()
    again = prepare_data(300, data_paths=[str(texts)], cache_dir=cache, log=logs.append)
    assert not logs and again.fingerprint == first.fingerprint and np.array_equal(again.train, first.train)
    other_vocab = prepare_data(320, data_paths=[str(texts)], cache_dir=cache, log=logs.append)
    assert other_vocab.fingerprint != first.fingerprint
    (texts / "doc0.txt").write_text("changed text " * 300)
    changed = prepare_data(300, data_paths=[str(texts)], cache_dir=cache, log=logs.append)
    assert changed.fingerprint != first.fingerprint


def test_corrupt_cache_is_named_with_the_fix(tmp_path):
    texts, cache = tmp_path / "texts", tmp_path / "cache"
    _write_docs(texts)
    data = prepare_data(300, data_paths=[str(texts)], cache_dir=cache, log=lambda *a: None)
    np.save(data.path / "train.npy", data.train[: len(data.train) // 2])
    with pytest.raises(DataError, match=r"corrupt.*rm -rf"):
        prepare_data(300, data_paths=[str(texts)], cache_dir=cache, log=lambda *a: None)
    rebuilt = prepare_data(300, data_paths=[str(texts)], cache_dir=cache, rebuild=True, log=lambda *a: None)
    assert len(rebuilt.train) == len(data.train)


def test_missing_user_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        prepare_data(300, data_paths=[str(tmp_path / "nope")], cache_dir=tmp_path, log=lambda *a: None)


@pytest.mark.parametrize("command", [
    [str(ROOT / "train_llm.py")],
    ["-m", "trainer.data"],
    ["-m", "research_harness"],
    ["-m", "research_harness", "runs"],
    [str(ROOT / "benchmarks" / "train_speed.py")],
    [str(ROOT / "benchmarks" / "gate_calibration.py")],
], ids=lambda c: " ".join(Path(p).name for p in c))
def test_every_command_answers_help(command):
    result = subprocess.run([sys.executable, *command, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and "Traceback" not in result.stderr


def test_help_lists_every_idea_flag_even_with_a_percent_in_a_title(tmp_path):
    """A title such as '... after 30% of tokens' reached argparse's %-formatting and crashed --help."""
    ideas = tmp_path / "ideas"
    ideas.mkdir()
    (ideas / "pct.py").write_text(
        "from trainer.ideas.base import Idea\n"
        "IDEA = Idea(name='pct_idea', title='Warm up 100% of the way (50%/50%)', category='optimizer',\n"
        "            pitch='p.', math='x', why_it_might_work='w', why_it_might_not='n', references=['A (2024). T.'])\n")
    result = subprocess.run([sys.executable, str(ROOT / "train_llm.py"), "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, env={**__import__("os").environ, "RESEARCH_IDEAS_PATH": str(ideas)})
    assert result.returncode == 0, result.stderr
    assert "--use_pct_idea" in result.stdout and "100% of the way" in result.stdout


def test_the_speed_benchmark_profiles_steps_and_refuses_a_window_the_run_lacks(data_dir, tmp_path):
    """--profile says where a step's time goes (GPU-busy share and kernel launches on CUDA; the
    optimizers' host time everywhere), the question the GPU speed figures left open."""
    bench = [sys.executable, str(ROOT / "benchmarks" / "train_speed.py"), "--preset", "tiny", "--device", "cpu",
             "--tokens", "8000", "--seeds", "1"]
    out = tmp_path / "bench.json"
    result = subprocess.run([*bench, "--profile", "4", "--json", str(out)], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    profile = json.loads(out.read_text())["profile"]
    assert profile["steps"] == 4 and profile["wall_ms_per_step"] > 0 and profile["gpu_busy_ms_per_step"] is None
    muon = profile["regions_per_step"]["Optimizer.step#Muon.step"]
    assert muon["host_ms"] > 0 and muon["calls"] == 1  # one optimizer step per profiled step: the window is right
    assert profile["top"] and "aten::mm" in {row["name"] for row in profile["top"]}
    assert "[profile] 4 steps after 4:" in result.stdout
    refused = subprocess.run([*bench, "--profile", "20"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert refused.returncode == 2 and "--profile 20 needs at least 25 steps per run" in refused.stderr
