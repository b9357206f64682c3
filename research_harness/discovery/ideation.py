"""Ideation, review and refinement.

Ideas come from providers. The built-in provider proposes from the idea registry (the
built-in catalogue plus experiments/ideas/ and entry points); a provider backed by a
language model would implement the same `propose` and return ideas whose code exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trainer.ideas import Idea, discover_ideas

from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS

FEASIBLE_LINES = 200


class IdeaProvider(Protocol):
    def propose(self, exclude: set[str], n: int) -> list[Idea]: ...


@dataclass
class CatalogueProvider:
    """Proposes n ideas from distinct categories, not yet in the idea log. Order is
    deterministic: categories rotate (least-tried first), names break ties."""

    ideas: dict[str, Idea] | None = None

    def propose(self, exclude: set[str], n: int = 3, tried_categories: list[str] | None = None) -> list[Idea]:
        ideas = self.ideas if self.ideas is not None else discover_ideas()
        pool = sorted((i for i in ideas.values() if i.name not in exclude), key=lambda i: i.name)
        tried = tried_categories or []
        # User ideas first within a category: a researcher who dropped one in wants it judged.
        pool.sort(key=lambda i: (tried.count(i.category), 0 if _is_user_idea(i) else 1, i.category, i.name))
        chosen: list[Idea] = []
        for idea in pool:
            if len(chosen) == n:
                break
            if idea.category not in {c.category for c in chosen}:
                chosen.append(idea)
        for idea in pool:  # fewer categories than n left: fill with the rest
            if len(chosen) == n:
                break
            if idea not in chosen:
                chosen.append(idea)
        return chosen


def _is_user_idea(idea: Idea) -> bool:
    return "/trainer/ideas/" not in idea.source_file.replace("\\", "/")


def review(idea: Idea, tried: set[str]) -> dict:
    """Scores out of 5, with the reason for each, from the idea's real code and metadata.

    feasibility: implementation size (the workflow's limit is 200 lines);
    novelty: 0 if already tried, 1 for a plain hyperparameter change, else 4
             (+1 for a change to the model's computation rather than its training recipe);
    testability: 5 when the effect acts from the first step (model, loss, optimizer),
             3 when it acts only in part of the run (schedule, curriculum), so 1M tokens
             shows less of it."""
    lines = idea.implementation_lines()
    if lines >= FEASIBLE_LINES or lines == 0:
        feasibility, f_why = 0, f"{lines} lines: not within the {FEASIBLE_LINES}-line limit" if lines else "no source found"
    else:
        feasibility = 5 if lines <= 60 else 4 if lines <= 120 else 3
        f_why = f"{lines} lines of implementation"
    hooks = set(idea.overridden_hooks())
    if idea.name in tried:
        novelty, n_why = 0, "already in the idea log"
    elif idea.hyperparameter_only:
        novelty, n_why = 1, "a plain hyperparameter change"
    else:
        novelty = 5 if "patch_model" in hooks else 4
        n_why = "changes the model's computation" if novelty == 5 else "changes the training recipe"
    late = hooks and hooks <= {"lr_multiplier", "seq_len", "configure"}
    testability, t_why = (3, "acts in part of the run only (schedule or curriculum)") if late else \
        (5, "acts from the first step; val_loss at 1M tokens measures it")
    return {"idea": idea.name, "feasibility": feasibility, "novelty": novelty, "testability": testability,
            "total": feasibility + novelty + testability, "implementation_lines": lines,
            "reasons": {"feasibility": f_why, "novelty": n_why, "testability": t_why}}


def select(scores: list[dict]) -> dict:
    """Highest total; ties go to novelty, then feasibility, then the name (deterministic)."""
    eligible = [s for s in scores if s["feasibility"] > 0 and s["novelty"] > 0]
    if not eligible:
        raise ValueError("no candidate is both feasible and novel")
    return sorted(eligible, key=lambda s: (-s["total"], -s["novelty"], -s["feasibility"], s["idea"]))[0]


def refine(idea: Idea, label: str) -> dict:
    """The concrete plan, in the seed's terms: arms, seeds, commands, criteria."""
    seeds = ", ".join(map(str, ARM_SEEDS))
    return {
        "hypothesis": f"Enabling {idea.title} (`--{idea.flag}`) lowers final val_loss at {label} tokens "
                      f"relative to the unchanged baseline. {idea.why_it_might_work}",
        "control": f"baseline, flag off, seeds {seeds}",
        "experimental": f"`--{idea.flag} true`, seeds {seeds}; everything else identical",
        "seeds": list(ARM_SEEDS),
        "extension_seeds": list(EXTENSION_SEEDS),
        "success": "Cohen's d >= 0.5 (lower val_loss is better): proceed to the paper",
        "failure": "d < 0.2: noise, the idea is marked Failed and disabled; 0.2 <= d < 0.5: seeds 512 and 1024 "
                   "on both arms, then decide again",
        "verification": "flag-off seed-42 run must reproduce the stored baseline seed-42 run (bit-identical on CPU) "
                        "and lie within 1 sigma of the baseline mean",
        "commands": [f"python train_llm.py --train_tokens <N> --seed {s} --output_dir checkpoints/control_{label}_seed{s}"
                     for s in ARM_SEEDS] +
                    [f"python train_llm.py --train_tokens <N> --seed {s} --{idea.flag} true "
                     f"--output_dir checkpoints/exp_{label}_seed{s}" for s in ARM_SEEDS],
        "risk": idea.why_it_might_not,
    }


def format_candidates(ideas: list[Idea], scores: list[dict]) -> str:
    """The seed's ideation format for each candidate, and the review table."""
    by_name = {s["idea"]: s for s in scores}
    out = []
    for i, idea in enumerate(ideas, 1):
        out += [f"### Candidate {i}: {idea.title}", "",
                f"- **Pitch**: {idea.pitch}",
                f"- **Math**: $${idea.math}$$",
                f"- **Pro**: {idea.why_it_might_work}",
                f"- **Con**: {idea.why_it_might_not}",
                f"- **Flag**: `--{idea.flag}`",
                "- **Test**: control vs experimental arms, seeds 42, 137, 256 (then 512, 1024 if suggestive)",
                f"- **Success**: {idea.success_criterion}", ""]
    out += ["| Candidate | Feasibility | Novelty | Testability | Total | Why |",
            "|-----------|-------------|---------|-------------|-------|-----|"]
    for idea in ideas:
        s = by_name[idea.name]
        why = "; ".join(f"{k}: {v}" for k, v in s["reasons"].items())
        out.append(f"| {idea.name} | {s['feasibility']} | {s['novelty']} | {s['testability']} | {s['total']} | {why} |")
    return "\n".join(out) + "\n"
