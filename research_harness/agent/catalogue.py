"""The offline catalogue's judgement, as pure functions over ideas, behaviour probes
(research_harness.agent.probe) and journal facts. Nothing here reads or writes files.

Proposing (`propose`). Candidates are the ideas not yet in the journal, less calibration
ideas (an A/A control is never research). Each category gets a weight

    1 / (1 + ideas of it already in the journal)        untried categories come first
    x 0.5 for every Failed idea in it                    its mechanism did not pay off here
    x 2   for every Inconclusive or "Proceeded (preliminary)" idea in it
                                                         a hint of an effect earns a closer look

and n categories are drawn without replacement with these weights, then one idea from each
(at most one per category while categories remain, so one review compares different kinds
of change). Within a category the draw weights user ideas (defined outside trainer/ideas/)
3 to 1 against built-ins: a researcher who dropped one in wants it judged. When fewer
categories than n are left, the rest are drawn from the remaining ideas, weighted alike.
All draws come from random.Random seeded by (seed, slot): the same inputs give the same
slate, a different seed or slot a different one, and no idea is favoured for its name.

Reviewing (`score`), integers 0-5 with a sentence of numbers for each:
  feasibility  from implementation_lines(): the workflow's limit is "fewer than 200 lines"; 5 up
               to half of it (100), 4 up to three quarters (150), 3 below 200, 0 at 200 or more
               or without source.
  novelty      from what the probe saw the hooks do, not from the idea's own words: 0 if
               already tried; 1 when only config values, initial values or optimizer settings
               change (or nothing survives the trainer's initialisation): the workflow's "just a
               parameter tune"; 3 for a schedule (lr multiplier or sequence-length curriculum),
               which changes when, not what; 4 for a new mechanism of any kind, an update rule,
               a loss or an architecture change (new parameters or different outputs for the
               same weights); +1 when two of those mechanisms are combined.
  testability  whether the expected effect, the prior x baseline mean val_loss in nats
               (0 when the probe found the idea inert), reaches the minimum detectable effect
               of a one-sided two-sample t-test at alpha 0.05 and 80% power: 5 with 3 seeds
               per arm, 4 with 5, 3 with 10, 2 with 20, 1 otherwise (a negative prior, an
               idea measured to raise val_loss, is 1). Without a baseline the noise is
               unknown and the score is 3. The prior (research_harness.agent.priors) is the
               effect benchmarks/idea_effects.py measured on the default corpus for a
               built-in idea's present code, else the idea's own expected_gain guess.
Selecting (`select`): the highest total among feasible and novel candidates, where totals
within TIE_MARGIN (1) point of the best count as tied (testability rests on a prior, at
best measured on 3 seeds of the default corpus, and the bands are coarse: a one-point lead
is no reason never to try the other); ties are broken by a draw seeded by (seed, slot), never by name. An untestable candidate
(testability UNTESTABLE, 1: not detectable even with 20 seeds per arm) is not selected
while a testable one remains, whatever its total; when every candidate is untestable the
same policy picks among them and `selection_note` says so (the catalogue agent adds it to
the selected score's rationale, and the idea log shows it). With this policy every
built-in idea is selected in some slot for some seed, an untestable one only in a slot
where no testable candidate remains (tests/test_catalogue_agent.py).
Refining (`refine`): a plan built from the idea's metadata and its probe. The hypothesis is
at most two sentences: the predicted change in final val_loss at the study's budget and
preset (the prior, with where it comes from; "higher" for a negative one, "no lower" for a
zero one, "no change" for an inert idea), then the mechanism, the first sentence of the
idea's why_it_might_work. The probe's measurements, all made on the tiny preset, are `plan["probe"]` (one fact per kind, each
labelled "tiny preset") with `plan["probe_scope"]` saying it is a mechanism check separate
from the study's preset; no tiny-preset figure is presented as a fact about the study's
model. The parameters an idea adds are counted on the study's preset when the caller gives
them (`study_params`, from probe.added_params_at); otherwise the risk gives the tiny
preset's share and says the study's was not counted.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import trainer.ideas
from research_harness import stats
from research_harness.agent import priors
from research_harness.agent.probe import OPT_STEPS, format_params
from research_harness.workspace import ARM_SEEDS, EXTENSION_SEEDS
from trainer.ideas.base import Idea
from trainer.ideas.static import UntrustedIdea

FEASIBLE_LINES = 200
LINE_BANDS = ((FEASIBLE_LINES // 2, 5), (3 * FEASIBLE_LINES // 4, 4), (FEASIBLE_LINES - 1, 3))
KIND_NOVELTY = {"hyperparameter": 1, "schedule": 3, "optimizer": 4, "loss": 4, "architecture": 4}
SEED_STEPS = ((3, 5), (5, 4), (10, 3), (20, 2))  # (seeds per arm, testability when detectable)
UNTESTABLE = 1  # the testability of an effect below the MDE even at 20 seeds per arm
ALPHA, POWER = 0.05, 0.80
STATUS_FACTOR = {"Failed": 0.5, "Inconclusive": 2.0, "Proceeded (preliminary)": 2.0}
USER_WEIGHT = 3.0
# Totals within this many points of the best are a tie at the resolution of the scores:
# testability rests on a prior (at best 3 seeds on the default corpus) and the bands are
# coarse, so a one-point lead is not a reason to never try the other idea.
TIE_MARGIN = 1
BUILTIN_DIR = Path(trainer.ideas.__file__).resolve().parent


def is_user_idea(idea: Idea) -> bool:
    """Defined outside the built-in package (experiments/ideas/, RESEARCH_IDEAS_PATH, entry points)."""
    return not idea.source_file or Path(idea.source_file).resolve().parent != BUILTIN_DIR


# -- proposing ---------------------------------------------------------------------------

def category_weights(ideas: dict[str, Idea], journal: list[dict]) -> dict[str, float]:
    """The weight of every category that still has a candidate (see the module docstring)."""
    tried = {e["idea"] for e in journal}
    open_categories = {i.category for i in ideas.values() if i.name not in tried and not i.calibration_only}
    weights = {}
    for category in sorted(open_categories):
        entries = [e for e in journal if e.get("category", getattr(ideas.get(e["idea"]), "category", None)) == category]
        w = 1.0 / (1 + len(entries))
        for e in entries:
            w *= STATUS_FACTOR.get(e.get("status"), 1.0)
        weights[category] = w
    return weights


def _draw(rng: random.Random, items: list, weights: list[float]):
    x, acc = rng.random() * sum(weights), 0.0
    for item, w in zip(items, weights):
        acc += w
        if x < acc:
            return item
    return items[-1]


def propose(ideas: dict[str, Idea], journal: list[dict], n: int, seed: int, slot: int) -> list[Idea]:
    """Up to n untried, non-calibration ideas, drawn as the module docstring says."""
    rng = random.Random(f"propose:{seed}:{slot}")
    tried = {e["idea"] for e in journal}
    # A model-written idea (UntrustedIdea) is never the catalogue's: the catalogue probes what it
    # proposes by running its hooks, and such code runs only in the sandbox.
    pool = sorted((i for i in ideas.values() if i.name not in tried and not i.calibration_only
                   and not isinstance(i, UntrustedIdea)), key=lambda i: i.name)
    weights = category_weights(ideas, journal)
    idea_weight = lambda i: USER_WEIGHT if is_user_idea(i) else 1.0  # noqa: E731
    chosen: list[Idea] = []
    categories = sorted(weights)
    while len(chosen) < n and categories:
        category = _draw(rng, categories, [weights[c] for c in categories])
        categories.remove(category)
        members = [i for i in pool if i.category == category]
        chosen.append(_draw(rng, members, [idea_weight(i) for i in members]))
    rest = [i for i in pool if i not in chosen]
    while len(chosen) < n and rest:
        pick = _draw(rng, rest, [weights[i.category] * idea_weight(i) for i in rest])
        rest.remove(pick)
        chosen.append(pick)
    return chosen


# -- reviewing ---------------------------------------------------------------------------

def mde_sigmas(n: int) -> float:
    """Minimum detectable effect, in baseline sigmas, of a one-sided two-sample t-test at
    ALPHA and POWER with n seeds per arm (:func:`research_harness.stats.minimum_detectable_effect`)."""
    return stats.minimum_detectable_effect(n, ALPHA, POWER)


def expected_effect(idea: Idea, probe, baseline: dict | None) -> dict:
    """The prior's effect (signed: positive lowers val_loss): relative, in nats and in
    baseline sigmas (None without a baseline), and whether it was measured."""
    prior = priors.prior(idea)
    relative = 0.0 if probe.inert else prior.relative
    out = {"relative": relative, "measured": prior.measured and not probe.inert, "prior": prior.source,
           "nats": None, "sigmas": None}
    if _sigma_known(baseline):
        out["nats"] = relative * float(baseline["mean"])
        out["sigmas"] = out["nats"] / float(baseline["std"])
    return out


def _sigma_known(baseline: dict | None) -> bool:
    if not baseline:
        return False
    std, mean = baseline.get("std"), baseline.get("mean")
    return (std is not None and mean is not None and math.isfinite(std) and std > 0 and math.isfinite(mean)
            and baseline.get("n", 2) >= 2)


def _feasibility(idea: Idea) -> tuple[int, str, int]:
    lines = idea.implementation_lines()
    if lines == 0:
        return 0, "No source code was found, so the implementation cannot be checked.", lines
    for limit, points in LINE_BANDS:
        if lines <= limit:
            return points, (f"{lines} lines of intervention code (docstrings, comments and metadata excluded): "
                            f"within the {limit}-line band, so {points}/5."), lines
    return 0, f"{lines} lines of intervention code: at or over the {FEASIBLE_LINES}-line limit.", lines


def _novelty(idea: Idea, probe, tried: set[str]) -> tuple[int, str]:
    if idea.name in tried:
        return 0, f"{idea.name} is already in the journal."
    mechanisms = [k for k in probe.kinds if k != "hyperparameter"]
    if probe.inert or not mechanisms:
        why = ("the probe found nothing that survives the trainer's initialisation" if probe.inert
               else "the probe found only config, initial-value or optimizer-setting changes")
        return 1, f"Novelty 1 of 5: {why} ({probe.description})."
    base = max(KIND_NOVELTY[k] for k in mechanisms)
    points = min(5, base + (1 if len(mechanisms) > 1 else 0))
    scale = ", ".join(f"{k} {KIND_NOVELTY[k]}" for k in mechanisms)
    extra = " plus 1 for combining mechanisms" if len(mechanisms) > 1 else ""
    return points, f"Novelty {points} of 5 from the probed kind ({scale}{extra}): {probe.description}."


def _testability(idea: Idea, probe, baseline: dict | None) -> tuple[int, str, dict]:
    effect = expected_effect(idea, probe, baseline)
    if effect["sigmas"] is None:
        return 3, ("The baseline sigma is unknown (no baseline runs yet), so detectability at 1M tokens cannot be "
                   f"judged: 3 of 5 (expected gain {effect['relative']:.2%}, {_prior_kind(effect)})."), effect
    mdes = {n: mde_sigmas(n) for n, _ in SEED_STEPS}
    points = next((p for n, p in SEED_STEPS if effect["sigmas"] >= mdes[n]), 1)
    why = "the probe found the idea inert, so " if probe.inert else ""
    needed = next((f"reaches the MDE at {n} seeds per arm" for n, p in SEED_STEPS if p == points),
                  "predicts a higher val_loss, so no number of seeds makes it a gain" if effect["sigmas"] < 0 else
                  f"is below the MDE even at 20 seeds per arm ({mdes[20]:.2f} sigma)")
    return points, (f"{why}Expected effect ({_prior_kind(effect)}) {effect['relative']:.2%} x {baseline['mean']:.4g} "
                    f"= {effect['nats']:.4f} nats "
                    f"= {effect['sigmas']:.2f} baseline sigma (sigma {baseline['std']:.4g}); one-sided MDE at "
                    f"alpha {ALPHA}, power {POWER:.0%}: {mdes[3]:.2f} sigma at 3 seeds, {mdes[5]:.2f} at 5; "
                    f"it {needed}: {points}/5"
                    + ("; untestable, so it is selected only when no testable candidate remains." if points <= UNTESTABLE
                       else ".")), effect


def _prior_kind(effect: dict) -> str:
    return "measured prior" if effect.get("measured") else "guessed prior"


def score(idea: Idea, probe, baseline: dict | None, tried: set[str]) -> dict:
    """Feasibility, novelty and testability (0-5 each) with the numbers that decided them."""
    feasibility, f_why, lines = _feasibility(idea)
    novelty, n_why = _novelty(idea, probe, tried)
    testability, t_why, effect = _testability(idea, probe, baseline)
    return {"name": idea.name, "feasibility": feasibility, "novelty": novelty, "testability": testability,
            "total": feasibility + novelty + testability,
            "rationale": {"feasibility": f_why, "novelty": n_why, "testability": t_why},
            "kinds": list(probe.kinds), "implementation_lines": lines, "expected_effect": effect}


def _eligible(scores: list[dict]) -> list[dict]:
    return [s for s in scores if s["feasibility"] > 0 and s["novelty"] > 0]


def untestable(s: dict) -> bool:
    """Testability at its lowest band: not detectable even with 20 seeds per arm."""
    return s["testability"] <= UNTESTABLE


def select(scores: list[dict], seed: int, slot: int) -> str:
    """The name of the highest-total feasible, novel candidate, among the testable ones while
    any remains; ties by a seeded draw."""
    eligible = _eligible(scores)
    if not eligible:
        listed = ", ".join(f"{s['name']} (feasibility {s['feasibility']}, novelty {s['novelty']})" for s in scores)
        raise ValueError("no candidate is both feasible (feasibility > 0) and novel (novelty > 0): "
                         + (listed or "no candidates were given"))
    eligible = [s for s in eligible if not untestable(s)] or eligible
    best = max(s["total"] for s in eligible)
    tied = sorted(s["name"] for s in eligible if s["total"] >= best - TIE_MARGIN)
    return random.Random(f"select:{seed}:{slot}").choice(tied)


def selection_note(scores: list[dict], selected: str) -> str:
    """A sentence for the record when the selected idea is untestable (which happens only
    when every feasible, novel candidate is); "" otherwise."""
    chosen = next((s for s in scores if s["name"] == selected), None)
    if chosen is None or not untestable(chosen):
        return ""
    return (f"Selected although untestable (testability {chosen['testability']}/5: no realistic number of seeds "
            f"detects its expected effect), because every feasible, novel candidate was untestable "
            f"({', '.join(sorted(s['name'] for s in _eligible(scores)))}); a null result will say little.")


# -- refining ----------------------------------------------------------------------------

# A sentence ends at . ! or ? followed by a capital, except after these abbreviations.
_ABBREVIATIONS = ("e.g.", "i.e.", "al.", "vs.", "cf.", "etc.", "approx.", "Fig.", "Eq.")


def sentences(text: str) -> list[str]:
    """`text` split into sentences (abbreviations such as "et al." do not end one)."""
    out, start = [], 0
    for m in re.finditer(r"[.!?](?=\s+[A-Z(\"'])", text):
        if text[:m.end()].endswith(_ABBREVIATIONS):
            continue
        out.append(text[start:m.end()].strip())
        start = m.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def _mechanism(idea: Idea) -> str:
    """The idea's mechanism in one sentence: the first of why_it_might_work, else of the pitch."""
    for text in (idea.why_it_might_work, idea.pitch):
        first = next(iter(sentences(text or "")), "").strip()
        if len(first) > 1:  # "-" is no mechanism
            return first if first.endswith((".", "!", "?")) else first + "."
    return "the idea's metadata gives no mechanism."


def _hypothesis(idea: Idea, probe, effect: dict, budget: str, preset: str | None) -> str:
    """Two sentences: the predicted change in final val_loss, and the mechanism. No probe numbers."""
    where = f"{budget} tokens" + (f" on the {preset} preset" if preset else "")
    if probe.inert:
        prediction = (f"Prediction: final val_loss at {where} does not change, because nothing the trainer runs "
                      f"differs from the baseline with --{idea.flag} on")
        return f"{prediction}. Intended mechanism: {_mechanism(idea)}"
    size = f"{abs(effect['relative']):.2%}" + (f" ({abs(effect['nats']):.4f} nats)" if effect["nats"] is not None else "")
    if effect["relative"] != 0:
        direction = "lower" if effect["relative"] > 0 else "higher"
        prediction = (f"Prediction: with --{idea.flag} on, final val_loss at {where} is about {size} {direction} than "
                      f"the baseline's ({effect['prior']})")
    else:
        prediction = (f"Prediction: with --{idea.flag} on, final val_loss at {where} is no lower than the baseline's "
                      f"(the idea's prior expects no gain at this scale; a gain would be a surprise)")
    return f"{prediction}. Mechanism: {_mechanism(idea)}"


def _probe_scope(preset: str | None) -> str:
    if preset == "tiny":
        return "tiny preset, the study's own preset; a mechanism check"
    if preset:
        return f"tiny preset, a mechanism check; not measured on the study's {preset} model"
    return "tiny preset, a mechanism check; not measured on the study's model"


def _mechanism_checks(idea: Idea, probe) -> list[str]:
    checks = []
    if probe.added_params:
        checks.append(f"the experimental model has {probe.added_param_count:,} more parameters than the baseline on "
                      f"the tiny preset ({format_params(probe.added_params)}) and every one of them gets a gradient")
    if "architecture" in probe.kinds and probe.forward_delta:
        checks.append(f"with the baseline's weights copied in, the logits differ (the probe saw up to "
                      f"{probe.forward_delta:.3g} on the tiny preset) through patch_model")
    if "loss" in probe.kinds:
        checks.append(f"on the same logits the training loss differs from the cross-entropy by "
                      f"{probe.loss_delta:+.3g} (the probe's value on the tiny preset), while evaluation still "
                      f"reports plain cross-entropy")
    if "optimizer" in probe.kinds:
        a, b = probe.optimizer_classes
        checks.append(f"build_optimizers returns {', '.join(b)} instead of {', '.join(a)}, and after "
                      f"{OPT_STEPS} identical steps the parameters differ (the probe, on the tiny preset: up to "
                      f"{probe.update_delta:.3g})")
    if probe.lr_changes:
        p, d, m = probe.lr_changes["example"]
        checks.append(f"lr_multiplier gives {m:.3f} instead of {d:.3f} at progress {p:.2f}, and differs from the "
                      f"default at {probe.lr_changes['points']} of {probe.lr_changes['of']} grid points")
    if probe.seq_len_changes:
        s = probe.seq_len_changes
        checks.append(f"seq_len starts at {s['start']} tokens on the tiny preset and reaches the full {s['full']} "
                      f"(the tiny preset's) after progress {s['until']:.2f}; the run's step count rises accordingly")
    if probe.init_changed:
        checks.append(f"at initialisation {len(probe.init_changed)} parameters differ from the baseline's for the "
                      f"same seed, with identical names and shapes, and the batches are the same")
    if probe.config_changes:
        checks.append("the run record's config shows " + ", ".join(f"{k} = {b}" for k, (a, b) in probe.config_changes.items()))
    if probe.inert:
        checks.append("none: the probe found nothing that survives the trainer's initialisation; "
                      "fix the idea before spending runs on it")
    return checks


def _capacity_risk(probe, preset: str | None, study_params: dict | None) -> str:
    if study_params and study_params.get("added"):
        added, base = study_params["added"], study_params["base"]
        return (f"It adds {added:,} parameters on the {study_params['preset']} preset ({100 * added / base:.2g}% of that "
                f"model, counted from its configuration), so an equal-token comparison partly measures extra capacity.")
    share = probe.added_param_count / probe.base_param_count
    on_study = "" if preset == "tiny" else (f"; the share on the study's {preset} model was not counted" if preset
                                             else "; the share on the study's model was not counted")
    return (f"It adds parameters ({100 * share:.2g}% of the model on the tiny preset, where the probe counted them{on_study}), "
            f"so an equal-token comparison partly measures extra capacity.")


def refine(idea: Idea, probe, baseline: dict | None, budget: str = "1M", preset: str | None = None,
           study_params: dict | None = None) -> dict:
    """An idea-specific plan: what changes, what effect is expected, how many seeds that needs.
    `preset` names the study's preset (None: unknown); `study_params` is
    probe.added_params_at(idea, preset) when the caller counted it. The hypothesis is the
    prediction and the mechanism from the idea's metadata; the probe's measurements, all on
    the tiny preset, are in "probe", never presented as facts about the study's model."""
    effect = expected_effect(idea, probe, baseline)
    seeds = ", ".join(map(str, ARM_SEEDS))
    hooks = ", ".join(idea.overridden_hooks()) or "no hook"
    if effect["sigmas"] is None:
        power_note = "The baseline's sigma is unknown, so the seed count cannot be sized in advance."
        seeds_needed = None
    else:
        seeds_needed = stats.seeds_for_power(effect["sigmas"], ALPHA, POWER) if effect["sigmas"] > 0 else None
        power_note = (f"The expected effect is {effect['sigmas']:.2f} sigma; the one-sided MDE (alpha {ALPHA}, "
                      f"power {POWER:.0%}) is {mde_sigmas(3):.2f} sigma with 3 seeds and {mde_sigmas(5):.2f} with 5, "
                      + (f"so about {seeds_needed} seeds per arm would be needed for 80% power."
                         if seeds_needed else "and no realistic number of seeds detects it"
                         + (" (the prior predicts a higher val_loss)." if effect["sigmas"] < 0 else ".")))
    risks = [idea.why_it_might_not]
    if effect["sigmas"] is not None and effect["sigmas"] < mde_sigmas(5):
        risks.append(f"The expected effect ({effect['sigmas']:.2f} sigma) is below the MDE at 5 seeds "
                     f"({mde_sigmas(5):.2f} sigma): a null result is weak evidence against the idea.")
    if probe.added_params:
        risks.append(_capacity_risk(probe, preset, study_params))
    if probe.lr_changes or probe.seq_len_changes:
        risks.append("A schedule acts in part of the run only, and its effect depends on the token budget.")
    if probe.inert:
        risks.append("The probe found the idea inert as trained; the experimental arm would repeat the baseline.")
    control_stats = (f" (baseline mean {baseline['mean']:.4f}, sd {baseline['std']:.4f}, n {baseline.get('n', '?')})"
                     if _sigma_known(baseline) else "")
    same_preset = f"the same preset ({preset})" if preset else "the same preset"
    return {
        "hypothesis": _hypothesis(idea, probe, effect, budget, preset),
        "probe": list(probe.facts) or ["no change found: every hook behaves as the baseline's (tiny preset)"],
        "probe_scope": _probe_scope(preset),
        "control": f"the stored baseline runs of seeds {seeds}, flag off{control_stats}",
        "experimental": (f"--{idea.flag} true, seeds {seeds}, same data order and {same_preset}; the change acts "
                         f"through {hooks}: {idea.pitch}"),
        "expected_effect": {"nats": effect["nats"], "sigmas": effect["sigmas"], "relative": effect["relative"],
                            "prior": effect["prior"]},
        "success_criterion": f"{idea.success_criterion}. {power_note}",
        "failure_criteria": [
            f"d < 0.2 on seeds {seeds}: noise; the idea is marked Failed",
            f"0.2 <= d < 0.5: seeds {', '.join(map(str, EXTENSION_SEEDS))} on both arms, then decide again",
            "a non-finite training loss in any experimental run",
            "the mechanism check fails: the flag does not produce the change the probe measured",
        ],
        "mechanism_check": _mechanism_checks(idea, probe),
        "risks": risks,
        "plan": [
            "verify: the flag-off seed-42 run reproduces the stored baseline seed-42 run",
            f"check the mechanism on the tiny preset ({'; '.join(_mechanism_checks(idea, probe)) or 'nothing to check'})",
            f"train --{idea.flag} true on seeds {seeds}",
            "gate on Cohen's d of the improvement against the stored baseline runs of the same seeds",
            f"if suggestive, add seeds {', '.join(map(str, EXTENSION_SEEDS))} to both arms and gate again",
        ],
        "seeds": list(ARM_SEEDS),
        "extension_seeds": list(EXTENSION_SEEDS),
        "seeds_for_power": seeds_needed,
    }
