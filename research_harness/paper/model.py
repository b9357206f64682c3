"""Inputs and outputs of the paper stage (phase 3).

The paper is rendered from run records only: :class:`PaperInputs` carries the records
and the idea's metadata, never a precomputed statistic. :func:`validate_inputs` refuses
records that cannot support a comparison (failed runs, too few seeds, mixed budgets or
datasets) with one message naming the problem and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PaperInputs", "PaperResult", "PaperInputError", "MIN_SEEDS", "RESEARCH_TOKENS", "validate_inputs"]

MIN_SEEDS = 3  # every claim rests on at least this many seeds per arm
RESEARCH_TOKENS = 1_000_000  # the workflow's research scale


class PaperInputError(ValueError):
    """The run records cannot support the paper; the message names the problem and the fix."""


@dataclass
class PaperInputs:
    """Everything the paper is rendered from.

    ``baseline`` holds the baseline-variance runs (5 seeds in the workflow), ``control``
    and ``experimental`` the two arms of the experiment (same seeds). Records are dicts
    as written by ``trainer.run.TrainingSession._record`` (plus ``run_key`` and
    ``record_path`` from the store). ``research_scale`` is False when the token budget is
    not the workflow's 1M tokens; every output then says "not the research scale".
    ``decision_history`` lists the gate's looks, e.g. ``[{"seeds": [42, 137, 256],
    "d": 0.31, "decision": "suggestive"}, ...]``; more than one look triggers the
    peeking caveat.
    """

    topic: str
    idea: dict
    baseline: list[dict]
    control: list[dict]
    experimental: list[dict]
    research_tokens: int
    research_scale: bool
    decision_history: list[dict] = field(default_factory=list)


@dataclass
class PaperResult:
    """What :func:`research_harness.paper.write_paper` wrote.

    ``review_before`` are the findings of both reviewers on the draft, ``review_after``
    those on the final paper (empty when it passes), ``changelog`` the revision rows
    (dicts with ``point``, ``section``, ``action``). ``pdf_path`` is None when the PDF
    was not built; ``pdf_error`` then says why (no engine, or the first LaTeX error).
    """

    markdown_path: Path
    tex_path: Path
    pdf_path: Path | None
    figures: list[Path]
    provenance_path: Path
    review_before: list
    review_after: list
    changelog: list[dict]
    pdf_error: str | None = None
    title: str = ""
    abstract: str = ""

    @property
    def passed(self) -> bool:
        """True when the final paper passes both reviews."""
        return not self.review_after


def _finite(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise PaperInputError(f"{what} is {value!r}, not a number; fix or re-run that run") from None
    if not math.isfinite(v):
        raise PaperInputError(f"{what} is {v!r}; a diverged run cannot enter the paper: exclude it or re-run it")
    return v


def _check_arm(records, arm: str, min_n: int, research_tokens: int) -> None:
    if not isinstance(records, (list, tuple)):
        raise PaperInputError(f"{arm}: expected a list of run records, got {type(records).__name__}")
    if len(records) < min_n:
        raise PaperInputError(f"{arm}: {len(records)} run record(s); the paper needs at least {min_n} seeds per arm. "
                              "Fix: run the missing seeds before phase 3")
    seen = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise PaperInputError(f"{arm}[{i}] is a {type(rec).__name__}, not a run record dict")
        for key in ("seed", "val_loss", "history", "wall_time", "config", "params"):
            if key not in rec:
                raise PaperInputError(f"{arm}[{i}] (seed {rec.get('seed')}) has no {key!r} field; "
                                      "it is not a run record from trainer.run (re-run it)")
        where = f"{arm} seed {rec['seed']} val_loss"
        if rec.get("status", "finished") != "finished":
            raise PaperInputError(f"{arm} seed {rec['seed']} has status {rec.get('status')!r}; only finished runs "
                                  "enter the paper. Fix: re-run that seed")
        _finite(rec["val_loss"], where)
        _finite(rec["wall_time"].get("total_s"), f"{arm} seed {rec['seed']} wall_time.total_s")
        if rec["seed"] in seen:
            raise PaperInputError(f"{arm}: seed {rec['seed']} appears twice; each seed must be one run")
        seen.add(rec["seed"])
        tokens = rec.get("train_tokens", rec["config"].get("train", {}).get("train_tokens"))
        if tokens != research_tokens:
            raise PaperInputError(f"{arm} seed {rec['seed']} was trained for {tokens} tokens but the study's budget "
                                  f"is {research_tokens}; every run of a comparison needs the same budget")


def validate_inputs(inputs: PaperInputs) -> None:
    """Raise :class:`PaperInputError` if the records cannot support the paper."""
    if not isinstance(inputs.topic, str) or not inputs.topic or not all(c.isalnum() or c in "_-" for c in inputs.topic):
        raise PaperInputError(f"topic {inputs.topic!r} must be a non-empty slug of letters, digits, '_' or '-' "
                              "(it names docs/papers/<topic>.md)")
    for key in ("name", "title", "math", "references"):
        if key not in inputs.idea:
            raise PaperInputError(f"idea metadata has no {key!r}; pass Idea.metadata()")
    if not isinstance(inputs.research_tokens, int) or inputs.research_tokens <= 0:
        raise PaperInputError(f"research_tokens must be a positive int, got {inputs.research_tokens!r}")
    _check_arm(inputs.baseline, "baseline", 2, inputs.research_tokens)
    _check_arm(inputs.control, "control", MIN_SEEDS, inputs.research_tokens)
    _check_arm(inputs.experimental, "experimental", MIN_SEEDS, inputs.research_tokens)
    c_seeds = sorted(r["seed"] for r in inputs.control)
    e_seeds = sorted(r["seed"] for r in inputs.experimental)
    if c_seeds != e_seeds:
        raise PaperInputError(f"control seeds {c_seeds} and experimental seeds {e_seeds} differ; both arms must "
                              "run the same seeds. Fix: run the missing seeds on the other arm")
    fps = {r.get("data", {}).get("fingerprint") for r in [*inputs.baseline, *inputs.control, *inputs.experimental]}
    if len(fps) > 1:
        raise PaperInputError(f"the runs use {len(fps)} different datasets (fingerprints {sorted(map(str, fps))}); "
                              "a comparison needs one dataset. Fix: re-run on the same processed data")
    flag = inputs.idea["name"]
    for rec in inputs.control:
        if flag in (rec.get("flags") or []):
            raise PaperInputError(f"control seed {rec['seed']} has the idea flag {flag!r} on; the control arm "
                                  "must run with it off")
    for rec in inputs.experimental:
        if flag not in (rec.get("flags") or []):
            raise PaperInputError(f"experimental seed {rec['seed']} does not have the idea flag {flag!r} on "
                                  f"(flags {rec.get('flags')}); the experimental arm must enable it")
    if inputs.research_scale and inputs.research_tokens != RESEARCH_TOKENS:
        raise PaperInputError(f"research_scale=True but the budget is {inputs.research_tokens} tokens, not "
                              f"{RESEARCH_TOKENS}; pass research_scale=False so the paper says so")
