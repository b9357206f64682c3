"""What the paper is rendered from and what writing it produced.

`PaperInputs` carries run records, the looks the gate took and the idea's metadata,
never a precomputed statistic. `validate_inputs` refuses records that cannot support a
comparison with one message naming the problem and the fix."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

NULL_KEYS = ("p_paper", "p_paper_per_idea", "p_paper_first_look_per_idea", "p_confirmed", "mean_gate_d_of_papers",
             "n_studies", "confirm", "rho", "seed")
MIN_SEEDS = 3  # every claim rests on at least this many seeds per arm


class PaperInputError(ValueError):
    """The run records cannot support the paper; the message names the problem and the fix."""


@dataclass
class PaperInputs:
    """`baseline`: the 5 baseline-variance records; `control`/`experimental`: the arms
    (the same seeds). `looks[j]`: the seeds of design look j the gate took (3 seeds, 5
    seeds, the confirmation look). `family`: the study's other ideas that reached a gate,
    each {"idea": name, "looks": [(control, experimental) val_loss by seed, or None]}.
    `confirm`: the study's design (False: --research-no-confirm, so no confirmation look).
    When `looks[2]` (the confirmation's fresh seeds) is given, the paper's result is
    computed from those seeds alone.
    `verification`: the idea's flag-off verification as the journal holds it.
    `agent`: the research agent that drafted and reviewed ({"backend", "model",
    "transcripts": [hashes]}). `research_scale` is False below the workflow's budget.
    `null`: the simulated rates of this study's design with no true effect
    (:func:`research_harness.calibration.null_rates`), computed by the workflow that ran it:
    the paper quotes them and never simulates."""

    topic: str
    idea: dict
    baseline: list[dict]
    control: list[dict]
    experimental: list[dict]
    research_tokens: int
    research_scale: bool
    looks: list[list[int] | None] = field(default_factory=list)
    confirm: bool = False
    family: list[dict] = field(default_factory=list)
    verification: dict = field(default_factory=dict)
    agent: dict = field(default_factory=lambda: {"backend": "catalogue", "model": None, "transcripts": []})
    null: dict = field(default_factory=dict)


@dataclass
class PaperResult:
    markdown_path: Path
    tex_path: Path
    pdf_path: Path | None
    provenance_path: Path
    figures: list[Path]
    findings: list  # what the hard checks still find on the final paper (empty: it passes)
    changelog: list[str]
    pdf_error: str | None = None
    pdf_pages: int | None = None
    title: str = ""

    @property
    def passed(self) -> bool:
        return not self.findings


def _check_arm(records, arm: str, min_n: int, tokens: int) -> None:
    if len(records) < min_n:
        raise PaperInputError(f"{arm}: {len(records)} run record(s); the paper needs at least {min_n} seeds per arm. "
                              "Fix: run the missing seeds before phase 3")
    seeds = [r.get("seed") for r in records]
    if len(set(seeds)) != len(seeds):
        raise PaperInputError(f"{arm}: a seed appears twice in {seeds}; each seed must be one run")
    for rec in records:
        where = f"{arm} seed {rec.get('seed')}"
        if rec.get("status") != "finished" or not math.isfinite(float(rec.get("val_loss", math.nan))):
            raise PaperInputError(f"{where} is not a finished run with a finite val_loss (status "
                                  f"{rec.get('status')!r}); a diverged run cannot enter the paper. Fix: re-run it")
        if rec.get("train_tokens") != tokens:
            raise PaperInputError(f"{where} was trained for {rec.get('train_tokens')} tokens, the study for {tokens}; "
                                  "every run of a comparison needs the same budget")


def validate_inputs(inputs: PaperInputs) -> None:
    if not inputs.topic or not all(c.isalnum() or c in "_-" for c in inputs.topic):
        raise PaperInputError(f"topic {inputs.topic!r} must be a slug of letters, digits, '_' or '-' "
                              "(it names docs/papers/<topic>.md)")
    for key in ("name", "title", "category", "math", "references"):
        if key not in inputs.idea:
            raise PaperInputError(f"idea metadata has no {key!r}; pass Idea.metadata()")
    _check_arm(inputs.baseline, "baseline", 2, inputs.research_tokens)
    _check_arm(inputs.control, "control", MIN_SEEDS, inputs.research_tokens)
    _check_arm(inputs.experimental, "experimental", MIN_SEEDS, inputs.research_tokens)
    if sorted(r["seed"] for r in inputs.control) != sorted(r["seed"] for r in inputs.experimental):
        raise PaperInputError("the control and experimental arms hold different seeds; both arms must run the same "
                              "seeds. Fix: run the missing seeds on the other arm")
    records = [*inputs.baseline, *inputs.control, *inputs.experimental]
    if len({r["data"]["fingerprint"] for r in records}) > 1:
        raise PaperInputError("the runs used different datasets; a comparison needs one. Fix: re-run on the same "
                              "processed data")
    name = inputs.idea["name"]
    if any(name in (r.get("flags") or []) for r in inputs.control) or \
            any(name not in (r.get("flags") or []) for r in inputs.experimental):
        raise PaperInputError(f"the control arm must run without --use_{name} and the experimental arm with it")
    missing = [k for k in NULL_KEYS if k not in inputs.null]
    if missing:
        raise PaperInputError(f"the simulated null rates lack {', '.join(missing)}; pass "
                              "null=research_harness.calibration.null_rates(confirm=..., max_confirm_seeds=...) of the "
                              "study's design")
    if bool(inputs.null["confirm"]) != bool(inputs.confirm):
        raise PaperInputError(f"the null rates were simulated with confirm={inputs.null['confirm']}, but the study's "
                              f"design has confirm={inputs.confirm}; simulate the design that ran")
    if not inputs.looks or not inputs.looks[0]:
        raise PaperInputError("no look of the gate is recorded; the paper needs the seeds of each look the gate took")
