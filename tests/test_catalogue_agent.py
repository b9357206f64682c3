"""The offline catalogue's judgement: behaviour probes of ideas' hooks, and proposing,
scoring, selecting and refining as pure functions. Real tiny models and real hooks."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from research_harness import stats
from research_harness.agent import catalogue, priors
from research_harness.agent.probe import probe
from trainer.ideas import discover_ideas
from trainer.ideas.base import Idea

BASELINE = {"mean": 5.0, "std": 0.02, "n": 5}


@pytest.fixture(autouse=True)
def guessed_priors(tmp_path, monkeypatch):
    """The scoring and wording tests run on the ideas' own expected_gain guesses, so they do
    not move when the measured priors are regenerated; the tests of measured priors give
    their own table (`measured`)."""
    monkeypatch.setattr(priors, "MEASURED_FILE", tmp_path / "no_measured_priors.json")


def measured(monkeypatch, tmp_path, ideas: dict[str, Idea], relative: dict[str, float]) -> dict:
    """A priors file as benchmarks/idea_effects.py --write-priors writes it, for `relative`."""
    effects = {"preset": "cpu-small", "tokens": 1_000_000, "device": "cpu", "seeds": [50001, 50002, 50003],
               "baseline": {"mean": 4.4}, "command": "python benchmarks/idea_effects.py",
               "ideas": [{"idea": n, "relative": r, "ci95": [4.4 * r - 0.01, 4.4 * r + 0.01],
                          "mean_improvement_nats": 4.4 * r, "cohens_d": 3.0} for n, r in relative.items()]}
    table = priors.table_from_effects(effects, ideas)
    path = tmp_path / "measured_priors.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(priors, "MEASURED_FILE", path)
    return table
STATUSES = ("Backlog", "Under Review", "Ready to Test", "Testing", "Validated", "Not confirmed",
            "Proceeded (preliminary)", "Inconclusive", "Failed", "Archived")

# The 1%-rescale of a norm gain that tests/test_discovery.py plants as a user idea.
RESCALE = '''
from trainer.ideas.base import Idea

class _Scaled(Idea):
    def patch_model(self, model):
        model.final_norm.weight.data.mul_(1.01)

IDEA = _Scaled(
    name="rescale_idea", title="Test idea", category="attention",
    pitch="Scale the final norm.", math="h \\\\leftarrow 1.01 h",
    why_it_might_work="It might.", why_it_might_not="It might not.",
    references=["Tester et al. (2024). A test idea."],
)
'''

# A researcher's real intervention: a learnable temperature per query head.
HEAD_TEMPERATURE = '''
import torch
import torch.nn as nn

from trainer.ideas.base import Idea, extend_module


class _TemperatureMixin:
    def project_qkv(self, x):
        q, k, v = super().project_qkv(x)
        return q * self.temperature.view(1, -1, 1, 1).to(q.dtype), k, v


class HeadTemperature(Idea):
    def patch_model(self, model):
        for block in model.blocks:
            block.attn.temperature = nn.Parameter(torch.ones(block.attn.n_heads))
            extend_module(block.attn, _TemperatureMixin)


IDEA = HeadTemperature(
    name="head_temperature", title="A learnable temperature per query head", category="attention",
    pitch="Scale each head's queries by a learnable scalar so heads can sharpen or soften their attention.",
    math="q_h \\\\leftarrow \\\\tau_h q_h", why_it_might_work="QK-norm fixes the logit scale.",
    why_it_might_not="Muon's updates may make it redundant.", references=["Tester et al. (2024). Temperatures."],
)
'''


def user_ideas(folder: Path, **sources: str) -> dict[str, Idea]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        (folder / f"{name}.py").write_text(text)
    everything = discover_ideas([folder])
    return {n: i for n, i in everything.items() if n in sources or not catalogue.is_user_idea(i)}


@pytest.fixture(scope="module")
def builtins() -> dict[str, Idea]:
    return {n: i for n, i in discover_ideas().items() if not catalogue.is_user_idea(i)}


@pytest.fixture(scope="module")
def probes(builtins):
    return {n: probe(i) for n, i in builtins.items()}


@pytest.fixture(scope="module")
def with_users(tmp_path_factory, probes):
    ideas = user_ideas(tmp_path_factory.mktemp("ideas"), rescale_idea=RESCALE, head_temperature=HEAD_TEMPERATURE)
    return ideas, {n: probes[n] if n in probes else probe(i) for n, i in ideas.items()}


def idea_file(tmp_path: Path, body: str, name: str = "sized") -> Idea:
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return Idea(name=name, title="t", category="optimizer", pitch="p.", math="x", why_it_might_work="-",
                why_it_might_not="-", references=["A (2024). B."], source_file=str(path))


# -- metadata ------------------------------------------------------------------------------------

def test_implementation_lines_count_code_only(tmp_path):
    code = "import math\n\n\ndef f(x):\n    # a comment\n    return math.sqrt(x)\n"
    pitch = 'IDEA = dict(\n    name="x",\n' + "".join(f'    p{i}="A long pitch line {i}.",\n' for i in range(30)) + ")\n"
    base = idea_file(tmp_path, code).implementation_lines()
    assert base == 3
    docs = '"""' + "\n".join(f"Docstring line {i}." for i in range(50)) + '"""\n'
    fn_doc = code.replace("def f(x):\n", 'def f(x):\n    """' + "\n    Why.\n" * 50 + '    """\n')
    class_doc = code + 'class C:\n    """\n' + "    Why.\n" * 50 + '    """\n    y = 1\n'
    assert idea_file(tmp_path, docs + code).implementation_lines() == base
    assert idea_file(tmp_path, fn_doc).implementation_lines() == base
    assert idea_file(tmp_path, class_doc).implementation_lines() == base + 2
    assert idea_file(tmp_path, code + pitch).implementation_lines() == base
    assert idea_file(tmp_path, code + "y = f(4)\n").implementation_lines() == base + 1
    assert idea_file(tmp_path, code + 's = """a\nmultiline\nvalue"""\n').implementation_lines() == base + 3


def test_builtin_metadata(builtins):
    assert "hyperparameter_only" not in builtins["wsd_schedule"].metadata()
    assert [n for n, i in builtins.items() if i.calibration_only] == ["null_init"]
    for name, idea in builtins.items():
        assert isinstance(idea.expected_gain, float) and 0.0 <= idea.expected_gain < 0.02, name
        text = Path(idea.source_file).read_text()
        assert re.search(r"\n    #[^\n]*\n    expected_gain=", text), f"{name}: say where the expected_gain comes from"
    assert builtins["null_init"].expected_gain == 0.0
    assert Idea(name="u", title="t", category="optimizer", pitch="p.", math="x", why_it_might_work="-",
                why_it_might_not="-", references=[]).expected_gain == 0.005


# -- probes ------------------------------------------------------------------------------------

EXPECTED_KINDS = {
    "cautious": ("optimizer",), "gated_attention": ("architecture",), "layerscale": ("architecture",),
    "logit_softcap": ("architecture",), "null_init": ("hyperparameter",), "partial_rope": ("architecture",),
    "sandwich_norm": ("architecture",), "seq_len_warmup": ("schedule",), "value_residual": ("architecture",),
    "wsd_schedule": ("schedule",), "z_loss": ("loss",),
}


def test_probe_classifies_every_builtin_by_behaviour(probes):
    assert {n: p.kinds for n, p in probes.items()} == EXPECTED_KINDS
    assert not any(p.inert for p in probes.values())


def test_probe_measures_what_changes(probes):
    gated = probes["gated_attention"]
    assert gated.added_param_count == 2 * 32 * 32 and "2 x 1,024 (blocks.*.attn.gate_proj.weight)" in gated.description
    assert probes["value_residual"].added_param_count == 1  # one lambda: layer 2 of 2
    assert probes["layerscale"].added_param_count == probes["sandwich_norm"].added_param_count == 4 * 32
    assert probes["partial_rope"].added_param_count == 0 and probes["partial_rope"].forward_delta > 0
    assert probes["logit_softcap"].forward_delta > 0 and not probes["logit_softcap"].loss_replaced
    assert probes["z_loss"].loss_replaced and probes["z_loss"].loss_delta > 0 and probes["z_loss"].forward_delta == 0
    assert probes["cautious"].optimizer_classes == (("Muon", "AdamW"), ("Muon", "CautiousAdamW"))
    assert probes["wsd_schedule"].lr_changes["example"][2] == 1.0 and not probes["wsd_schedule"].seq_len_changes
    assert probes["seq_len_warmup"].seq_len_changes["start"] == 16 and not probes["seq_len_warmup"].lr_changes
    assert probes["null_init"].init_changed and probes["null_init"].forward_delta == 0


def test_probe_sees_that_a_rescale_is_a_value_change_the_trainer_overwrites(with_users):
    ideas, probes = with_users
    p = probes["rescale_idea"]
    assert p.kinds == ("hyperparameter",) and p.inert
    assert p.patched_values == {"final_norm.weight": pytest.approx(0.01, rel=1e-3)}
    assert "overwrites" in p.description
    assert probes["head_temperature"].kinds == ("architecture",) and probes["head_temperature"].added_param_count == 4


CONFIG_ONLY = '''
from trainer.ideas.base import Idea

class Wider(Idea):
    def configure(self, model_cfg, train_cfg):
        model_cfg.d_ff *= 2

IDEA = Wider(name="wider_mlp", title="t", category="optimizer", pitch="p.", math="x",
             why_it_might_work="-", why_it_might_not="-", references=["A (2024). B."])
'''

SETTINGS_ONLY = '''
from trainer.ideas.base import Idea

class HotterAdam(Idea):
    def build_optimizers(self, model, cfg, device, default):
        opts = default(model, cfg, device)
        for group in opts[-1].param_groups:
            group["lr"] *= 2
        return opts

    def lr_multiplier(self, progress, cfg, default):
        return default(progress, cfg)

IDEA = HotterAdam(name="hotter_adam", title="t", category="optimizer", pitch="p.", math="x",
                  why_it_might_work="-", why_it_might_not="-", references=["A (2024). B."])
'''


def test_probe_calls_config_and_optimizer_settings_hyperparameters(tmp_path):
    ideas = user_ideas(tmp_path, wider_mlp=CONFIG_ONLY, hotter_adam=SETTINGS_ONLY)
    wider, hotter = probe(ideas["wider_mlp"]), probe(ideas["hotter_adam"])
    assert wider.kinds == ("hyperparameter",) and wider.config_changes == {"model.d_ff": (64, 128)}
    assert not wider.added_params, "both arms are built from the configured config"
    assert hotter.kinds == ("hyperparameter",), "same optimizer classes, only a setting changed"
    assert hotter.optimizer_changes == ("AdamW group 0: lr 0.003 -> 0.006",)
    assert not hotter.lr_changes, "an overridden hook that returns the default changes nothing"


# -- scoring ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lines, points", [(40, 5), (100, 5), (101, 4), (150, 4), (151, 3), (199, 3), (200, 0)])
def test_feasibility_bands(tmp_path, probes, lines, points):
    idea = idea_file(tmp_path, "".join(f"x{i} = {i}\n" for i in range(lines)))
    s = catalogue.score(idea, probes["gated_attention"], BASELINE, set())
    assert s["feasibility"] == points and str(lines) in s["rationale"]["feasibility"]


def test_novelty_comes_from_behaviour(builtins, probes, with_users):
    novelty = {n: catalogue.score(builtins[n], probes[n], BASELINE, set())["novelty"] for n in builtins}
    assert {novelty[n] for n in ("gated_attention", "value_residual", "partial_rope", "logit_softcap")} == {4}
    assert novelty["cautious"] == novelty["z_loss"] == 4  # a new update rule or loss is a mechanism too
    assert novelty["wsd_schedule"] == novelty["seq_len_warmup"] == 3  # changes when, not what
    assert novelty["null_init"] == 1
    assert catalogue.score(builtins["z_loss"], probes["z_loss"], BASELINE, {"z_loss"})["novelty"] == 0
    ideas, user_probes = with_users
    rescale = catalogue.score(ideas["rescale_idea"], user_probes["rescale_idea"], BASELINE, set())
    assert rescale["novelty"] == 1, "a 1% rescale of a norm gain is not a novel idea"
    assert rescale["testability"] == 1, "the trainer's init overwrites the rescale: no effect to detect"
    assert "nothing that survives" in rescale["rationale"]["novelty"]


def test_minimum_detectable_effects():
    for n in (3, 5, 10, 20):
        assert stats.t_test_power(catalogue.mde_sigmas(n), n) == pytest.approx(0.80, abs=1e-6)
    assert catalogue.mde_sigmas(3) == pytest.approx(2.48, abs=0.01)
    assert catalogue.mde_sigmas(3) > catalogue.mde_sigmas(5) > catalogue.mde_sigmas(10) > catalogue.mde_sigmas(20)


@pytest.mark.parametrize("n, points", [(3, 5), (5, 4), (10, 3), (20, 2)])
def test_testability_bands(builtins, probes, n, points):
    effect = builtins["gated_attention"].expected_gain * 5.0  # 0.025 nats
    just_detectable = {"mean": 5.0, "std": effect / (catalogue.mde_sigmas(n) * 1.001), "n": 5}
    s = catalogue.score(builtins["gated_attention"], probes["gated_attention"], just_detectable, set())
    assert s["testability"] == points
    assert "0.0250 nats" in s["rationale"]["testability"]
    too_noisy = {"mean": 5.0, "std": effect / (catalogue.mde_sigmas(20) * 0.999), "n": 5}
    assert catalogue.score(builtins["gated_attention"], probes["gated_attention"], too_noisy, set())["testability"] == 1


def test_testability_without_a_baseline(builtins, probes):
    s = catalogue.score(builtins["wsd_schedule"], probes["wsd_schedule"], None, set())
    assert s["testability"] == 3 and "unknown" in s["rationale"]["testability"]


def test_score_shape(builtins, probes):
    s = catalogue.score(builtins["cautious"], probes["cautious"], BASELINE, set())
    assert {"name", "feasibility", "novelty", "testability", "total", "rationale"} <= set(s)
    assert s["total"] == s["feasibility"] + s["novelty"] + s["testability"]
    assert all(isinstance(s[k], int) and 0 <= s[k] <= 5 for k in ("feasibility", "novelty", "testability"))
    for sentence in s["rationale"].values():
        assert re.search(r"\d", sentence) and sentence.endswith(".")
    json.dumps(s)


# -- selecting ----------------------------------------------------------------------------------

def _s(name, total, feasibility=5, novelty=3):
    return {"name": name, "feasibility": feasibility, "novelty": novelty, "testability": total - feasibility - novelty,
            "total": total}


def test_select_takes_the_best_and_breaks_ties_by_a_seeded_draw():
    scores = [_s("zeta", 11), _s("alpha", 11), _s("mid", 10), _s("low", 9), _s("top_but_tried", 14, novelty=0),
              _s("top_but_huge", 14, feasibility=0)]
    picks = [catalogue.select(scores, seed, 1) for seed in range(40)]
    assert set(picks) == {"alpha", "zeta", "mid"}, "ties (within one point) go any way, never by name alone"
    assert picks == [catalogue.select(list(reversed(scores)), seed, 1) for seed in range(40)], "order does not matter"
    assert len({catalogue.select(scores, 7, slot) for slot in range(1, 30)}) == 3
    with pytest.raises(ValueError, match="feasible.*novel"):
        catalogue.select([_s("a", 9, novelty=0), _s("b", 9, feasibility=0)], 1, 1)


def test_an_untestable_candidate_loses_to_a_testable_one_even_with_a_higher_total():
    # testability 1: below the MDE even at 20 seeds per arm. "loud" leads by 3 points, beyond a tie.
    loud = _s("loud", 11, feasibility=5, novelty=5)
    quiet = _s("quiet", 8, feasibility=3, novelty=3)
    assert loud["testability"] == 1 and quiet["testability"] == 2
    assert {catalogue.select([loud, quiet], seed, slot) for seed in range(30) for slot in (1, 2)} == {"quiet"}
    assert catalogue.selection_note([loud, quiet], "quiet") == ""
    # Only untestable candidates: the selection still happens, by the usual policy, and says so.
    low = _s("low", 9, feasibility=5, novelty=3)
    picks = {catalogue.select([loud, low], seed, 1) for seed in range(30)}
    assert picks == {"loud"}, "among untestable candidates the best total wins as before"
    note = catalogue.selection_note([loud, low], "loud")
    assert "untestable" in note and "loud" in note and "low" in note
    # Testability 2 (detectable at 20 seeds) is testable: the ordinary policy applies.
    two = _s("two", 12, feasibility=5, novelty=5)
    assert {catalogue.select([two, quiet], seed, 1) for seed in range(30)} == {"two"}


def test_an_untestable_builtin_says_so_in_its_score_and_its_selection(builtins, probes):
    from research_harness.agent.backends import CatalogueAgent

    sandwich = catalogue.score(builtins["sandwich_norm"], probes["sandwich_norm"], BASELINE, set())
    gated = catalogue.score(builtins["gated_attention"], probes["gated_attention"], BASELINE, set())
    assert sandwich["testability"] == catalogue.UNTESTABLE and gated["testability"] > catalogue.UNTESTABLE
    assert "selected only when no testable candidate remains" in sandwich["rationale"]["testability"]
    agent = CatalogueAgent(lambda: builtins)
    agent._probes = dict(probes)
    both = [builtins[n].metadata() for n in ("sandwich_norm", "gated_attention")]
    review = agent.review(both, {"baseline": BASELINE, "slot": 1})
    assert review["selected"] == "gated_attention"
    assert not any("selection" in s["rationale"] for s in review["scores"])
    alone = agent.review([builtins[n].metadata() for n in ("sandwich_norm", "z_loss")], {"baseline": BASELINE})
    chosen = next(s for s in alone["scores"] if s["name"] == alone["selected"])
    assert "every feasible, novel candidate was untestable" in chosen["rationale"]["selection"]


# -- proposing ----------------------------------------------------------------------------------

def test_propose_is_seeded_and_skips_tried_and_calibration_ideas(builtins):
    journal = [{"idea": "gated_attention", "category": "attention", "status": "Failed"},
               {"idea": "wsd_schedule", "category": "training-dynamics", "status": "Testing"}]
    runs = {(seed, slot): [i.name for i in catalogue.propose(builtins, journal, 3, seed, slot)]
            for seed in range(60) for slot in (1, 2)}
    assert runs[(5, 1)] == [i.name for i in catalogue.propose(builtins, journal, 3, 5, 1)]
    assert len({tuple(v) for v in runs.values()}) > 10
    seen = {n for names in runs.values() for n in names}
    assert not seen & {"gated_attention", "wsd_schedule", "null_init"}
    for names in runs.values():
        assert len(names) == 3 and len({builtins[n].category for n in names}) == 3
    everything = catalogue.propose(builtins, [], 20, 0, 1)
    assert len(everything) == len(builtins) - 1 and len({i.category for i in everything[:5]}) == 5


def test_category_weights_use_outcomes(builtins):
    journal = [{"idea": "gated_attention", "category": "attention", "status": "Failed"},
               {"idea": "cautious", "category": "optimizer", "status": "Failed"},
               {"idea": "z_loss", "category": "training-dynamics", "status": "Inconclusive"},
               {"idea": "layerscale", "category": "normalization", "status": "Archived"}]
    w = catalogue.category_weights(builtins, journal)
    # untried 1; tried once 1/2, then x 1/2 for a failure, x 2 for an inconclusive result
    assert w == {"attention": 0.25, "normalization": 0.5, "positional": 1.0, "training-dynamics": 1.0}
    assert "optimizer" not in w, "no untried idea is left in it"
    firsts = collections.Counter(catalogue.propose(builtins, journal, 1, seed, 2)[0].category for seed in range(400))
    assert min(firsts["positional"], firsts["training-dynamics"]) > firsts["normalization"] > firsts["attention"] > 0


def test_user_ideas_are_weighted_up_within_their_category(builtins, with_users):
    ideas, _ = with_users
    pool = {n: i for n, i in ideas.items() if i.category == "attention" and n != "rescale_idea"}
    counts = collections.Counter(catalogue.propose(pool, [], 1, seed, 1)[0].name for seed in range(500))
    assert counts["head_temperature"] > 1.8 * max(counts["gated_attention"], counts["value_residual"])


# -- refining ----------------------------------------------------------------------------------

def test_refine_builds_an_idea_specific_plan(builtins, probes):
    keys = {"hypothesis", "probe", "control", "experimental", "expected_effect", "success_criterion",
            "failure_criteria", "mechanism_check", "risks", "plan", "seeds"}
    plans = {n: catalogue.refine(builtins[n], probes[n], BASELINE) for n in builtins}
    for plan in plans.values():
        assert keys <= set(plan) and plan["seeds"] == [42, 137, 256]
        json.dumps(plan)
    gated = plans["gated_attention"]
    assert "2 x 1,024" in " ".join(gated["probe"]) and "2 x 1,024" in " ".join(gated["mechanism_check"])
    assert "2 x 1,024" not in gated["experimental"], "a tiny-preset count is not the study's change"
    assert gated["expected_effect"] == {"nats": pytest.approx(0.025), "sigmas": pytest.approx(1.25), "relative": 0.005,
                                        "prior": "the idea's own guess, not measured"}
    assert builtins["gated_attention"].why_it_might_not in gated["risks"]
    assert gated["seeds_for_power"] == stats.seeds_for_power(1.25)
    assert "CautiousAdamW" in " ".join(plans["cautious"]["mechanism_check"])
    assert "0.189" in " ".join(plans["wsd_schedule"]["mechanism_check"])

    def anonymous(name):
        text = json.dumps(plans[name])
        for word in (name, builtins[name].title, builtins[name].flag):
            text = text.replace(word, "IDEA")
        return text

    assert anonymous("layerscale") != anonymous("sandwich_norm")
    differing = [k for k in keys if json.dumps(plans["z_loss"][k]).replace("z_loss", "") !=
                 json.dumps(plans["logit_softcap"][k]).replace("logit_softcap", "")]
    assert {"hypothesis", "expected_effect", "mechanism_check", "risks"} <= set(differing)


def test_refine_without_a_baseline_and_for_an_inert_idea(with_users):
    ideas, probes = with_users
    plan = catalogue.refine(ideas["head_temperature"], probes["head_temperature"], None)
    assert plan["expected_effect"]["sigmas"] is None and "unknown" in plan["success_criterion"]
    inert = catalogue.refine(ideas["rescale_idea"], probes["rescale_idea"], BASELINE)
    assert inert["expected_effect"]["relative"] == 0.0
    assert any("inert" in c for c in inert["mechanism_check"] + inert["risks"])


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?")
ABBREVIATIONS = ("e.g.", "i.e.", "al.", "vs.")


def count_sentences(text: str) -> int:
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s+[A-Z(])", text) if not text[:m.end()].endswith(ABBREVIATIONS)]
    return len(ends) + bool(text[ends[-1] if ends else 0:].strip())


def test_the_hypothesis_is_a_prediction_and_a_mechanism_and_the_probe_has_its_own_field(builtins, probes):
    """Two sentences at most: the predicted change in val_loss and the mechanism from the idea's
    metadata. Every number the probe measured is in plan["probe"], none in the hypothesis."""
    for name, idea in builtins.items():
        plan = catalogue.refine(idea, probes[name], BASELINE, "1M", "cpu-small")
        hyp = plan["hypothesis"]
        assert count_sentences(hyp) <= 2, f"{name}: {hyp}"
        assert "val_loss" in hyp and "1M tokens" in hyp, name
        assert catalogue.sentences(idea.why_it_might_work)[0] in hyp, f"{name}: the mechanism is the idea's own"
        assert "probe" not in hyp.lower() and "tiny" not in hyp, name
        measured = set(NUMBER.findall(" ".join(plan["probe"])))
        allowed = set(NUMBER.findall(" ".join((idea.why_it_might_work, idea.title, idea.flag,
                                               f"{idea.expected_gain:.2%} {idea.expected_gain * 5:.4f} 1M"))))
        assert not (set(NUMBER.findall(hyp)) - allowed), f"{name}: a number the idea's metadata does not give: {hyp}"
        assert not (measured - allowed) & set(NUMBER.findall(hyp)), name
        assert plan["probe"] == list(probes[name].facts) and all("tiny preset" in f for f in plan["probe"]), name
        assert "tiny preset" in plan["probe_scope"] and "cpu-small" in plan["probe_scope"], name
    cautious = catalogue.refine(builtins["cautious"], probes["cautious"], BASELINE, "1M", "cpu-small")
    assert "0.20% (0.0100 nats) lower" in cautious["hypothesis"]
    assert f"{probes['cautious'].update_delta:.3g}" in " ".join(cautious["probe"])
    assert "CautiousAdamW" in " ".join(cautious["probe"]) and "CautiousAdamW" not in cautious["hypothesis"]
    gated = catalogue.refine(builtins["gated_attention"], probes["gated_attention"], BASELINE)
    assert "2 x 1,024" in " ".join(gated["probe"]) and "2 x 1,024" not in gated["hypothesis"]
    sandwich = catalogue.refine(builtins["sandwich_norm"], probes["sandwich_norm"], BASELINE)
    assert "no lower than the baseline's" in sandwich["hypothesis"], "a zero prior predicts no gain"


def _prose(plan: dict, idea: Idea) -> str:
    """Everything the catalogue says in the plan outside its labelled probe field (the idea's own
    why_it_might_not, quoted as a risk, is its author's words)."""
    said = {k: v for k, v in plan.items() if k not in ("probe", "probe_scope")}
    said["risks"] = [r for r in plan["risks"] if r != idea.why_it_might_not]
    return json.dumps(said)


def test_words_never_call_the_study_model_tiny(builtins, probes, with_users):
    """The probe runs on the tiny preset; a cpu-small or gpu-88m study's plan names the preset
    it runs, says where each tiny-preset figure was measured, and counts the added parameters
    on its own preset."""
    from research_harness.agent.probe import added_params_at

    ideas, user_probes = with_users
    for preset in ("cpu-small", "gpu-88m"):
        for name, idea in ideas.items():
            p = user_probes[name]
            counted = added_params_at(idea, preset) if p.added_params else None
            plan = catalogue.refine(idea, p, BASELINE, "1M", preset, counted)
            prose = _prose(plan, idea)
            assert "tiny model" not in prose and "tiny model" not in " ".join(plan["probe"]), name
            assert set(re.findall(r"tiny (\w+)", prose)) <= {"preset"}, name
            for text in [plan["hypothesis"], plan["experimental"], plan["control"], plan["success_criterion"],
                         *(r for r in plan["risks"] if r != idea.why_it_might_not)]:
                assert "tiny" not in text, f"{name} at {preset}: {text}"
            assert f"({preset})" in plan["experimental"] and f"{preset} preset" in plan["hypothesis"]
            assert preset in plan["probe_scope"] and "mechanism check" in plan["probe_scope"]
    gated, p = ideas["gated_attention"], user_probes["gated_attention"]
    counted = added_params_at(gated, "cpu-small")
    assert counted == {"preset": "cpu-small", "added": 4 * 128 * 128, "base": counted["base"]} and counted["base"] > 10 ** 6
    risk = " ".join(catalogue.refine(gated, p, BASELINE, "1M", "cpu-small", counted)["risks"])
    assert "65,536 parameters on the cpu-small preset" in risk and f"{100 * 65536 / counted['base']:.2g}%" in risk
    uncounted = " ".join(catalogue.refine(gated, p, BASELINE, "1M", "cpu-small")["risks"])
    assert "tiny preset, where the probe counted them" in uncounted and "cpu-small model was not counted" in uncounted
    own = catalogue.refine(gated, p, BASELINE, "1M", "tiny")
    assert "the study's own preset" in own["probe_scope"]


def test_the_idea_log_renders_the_probe_under_its_own_label(tmp_path, builtins, probes):
    from research_harness.discovery.journal import Journal, render_idea_log

    journal = Journal(tmp_path / "journal.json")
    entry = journal.new_entry(builtins["cautious"].metadata(), 1)
    entry.plan = catalogue.refine(builtins["cautious"], probes["cautious"], BASELINE, "1M", "cpu-small")
    text = render_idea_log(journal)
    hyp = next(line for line in text.splitlines() if line.startswith("- **Hypothesis**"))
    probe_line = next(line for line in text.splitlines() if line.startswith("- **Probe ("))
    assert f"{probes['cautious'].update_delta:.3g}" in probe_line and f"{probes['cautious'].update_delta:.3g}" not in hyp
    assert "tiny preset, a mechanism check; not measured on the study's cpu-small model" in probe_line
    assert len(hyp.split()) < 70


# -- reachability ---------------------------------------------------------------------------------

def reached(ideas, probes, seeds=range(200), baseline=BASELINE):
    """Slots 1-3 of the study for each seed, every selected idea failing: who gets selected
    (first (seed, slot) for each), and every slate an idea appeared in."""
    selected, slates = {}, collections.defaultdict(list)
    memo = {}  # a candidate is never in the journal, so its score depends on it alone
    for seed in seeds:
        journal = []
        for slot in (1, 2, 3):
            candidates = catalogue.propose(ideas, journal, 3, seed, slot)
            tried = {e["idea"] for e in journal}
            assert not tried & {i.name for i in candidates}
            for i in candidates:
                if i.name not in memo:
                    memo[i.name] = catalogue.score(i, probes[i.name], baseline, tried)
            scores = [memo[i.name] for i in candidates]
            pick = catalogue.select(scores, seed, slot)
            picked = next(s for s in scores if s["name"] == pick)
            if catalogue.untestable(picked):  # only when no testable candidate remains
                assert all(catalogue.untestable(s) for s in scores if s["feasibility"] and s["novelty"]), scores
            selected.setdefault(pick, (seed, slot))
            for s in scores:
                slates[s["name"]].append((pick, scores))
            journal.append({"idea": pick, "category": ideas[pick].category, "status": "Failed"})
    return selected, slates


def test_every_builtin_is_selectable_beside_a_weak_user_idea(with_users):
    ideas, probes = with_users
    pool = {n: i for n, i in ideas.items() if n != "head_temperature"}
    selected, slates = reached(pool, probes)
    eligible = {n for n, i in pool.items() if not i.calibration_only}
    assert eligible - {"rescale_idea"} <= set(selected)
    assert "null_init" not in selected and "null_init" not in slates
    # The inert rescale is proposed (user ideas are weighted up) but never wins: it does nothing.
    assert "rescale_idea" not in selected and slates["rescale_idea"]


def test_every_idea_is_reached_with_a_strong_user_idea_in_the_pool(builtins, probes, with_users):
    """The catalogue reaches every idea: each built-in and the researcher's own idea is
    selected in some slot for some seed, even beside a strong competitor."""
    ideas, user_probes = with_users
    pool = {n: i for n, i in ideas.items() if n != "rescale_idea"}
    selected, _ = reached(pool, user_probes)
    eligible = {n for n, i in pool.items() if not i.calibration_only}
    assert "head_temperature" in selected
    assert eligible == set(selected), f"never selected: {sorted(eligible - set(selected))}"
    alone, _ = reached(builtins, probes)
    assert {n for n, i in builtins.items() if not i.calibration_only} == set(alone)


def test_a_measured_prior_of_the_present_code_replaces_the_guess_and_says_so(builtins, probes, monkeypatch, tmp_path):
    """The catalogue's priors are measurements when one of the idea's present code exists: the
    hypothesis says where the number comes from, a measured loss makes an idea untestable
    (it is then selected only when nothing testable remains), and an idea whose code changed
    since it was measured falls back to its own guess, saying why."""
    measured(monkeypatch, tmp_path, builtins, {"gated_attention": 0.012, "cautious": -0.003})
    gated = catalogue.refine(builtins["gated_attention"], probes["gated_attention"], BASELINE, preset="cpu-small")
    assert gated["expected_effect"]["relative"] == 0.012 and gated["expected_effect"]["nats"] == pytest.approx(0.06)
    assert "1.20% (0.0600 nats) lower than the baseline's (prior measured on the default corpus, cpu-small at " \
           "1,000,000 tokens, 95% CI [+0.97%, +1.43%]; on other data it is only a prior)" in gated["hypothesis"]
    assert gated["hypothesis"].count(". ") <= 1
    hurt = catalogue.refine(builtins["cautious"], probes["cautious"], BASELINE, preset="cpu-small")
    assert "0.30% (0.0150 nats) higher than the baseline's (prior measured" in hurt["hypothesis"]
    assert "the prior predicts a higher val_loss" in hurt["success_criterion"]
    scores = [catalogue.score(builtins[n], probes[n], BASELINE, set()) for n in ("cautious", "gated_attention")]
    assert [s["testability"] for s in scores] == [catalogue.UNTESTABLE, 5]
    assert "measured prior" in scores[0]["rationale"]["testability"]
    assert "predicts a higher val_loss" in scores[0]["rationale"]["testability"]
    assert catalogue.select(scores, seed=0, slot=1) == "gated_attention"
    guessed = catalogue.refine(builtins["wsd_schedule"], probes["wsd_schedule"], BASELINE, preset="cpu-small")
    assert "(the idea's own guess, not measured)" in guessed["hypothesis"]

    edited = tmp_path / "gated_attention.py"
    edited.write_text(Path(builtins["gated_attention"].source_file).read_text() + "\nEDITED = 1\n")
    changed = priors.prior(Idea(**{**vars(builtins["gated_attention"]), "source_file": str(edited)}))
    assert not changed.measured and changed.relative == builtins["gated_attention"].expected_gain
    assert "its code changed since it was measured" in changed.source


def test_the_shipped_priors_are_measurements_of_every_builtin_ideas_present_code(builtins):
    """research_harness/agent/measured_priors.json covers every built-in idea and was measured
    on its present code: an edited idea needs `python benchmarks/idea_effects.py --write-priors`
    (otherwise its prior silently falls back to the guess)."""
    table = priors._read(Path(priors.__file__).with_name("measured_priors.json"))
    research = {n for n, i in builtins.items() if not i.calibration_only}
    assert set(table["ideas"]) == research
    stale = sorted(n for n in research if table["ideas"][n]["source_fingerprint"] != priors.idea_fingerprint(builtins[n]))
    assert not stale, f"re-measure {stale}: python benchmarks/idea_effects.py --ideas {' '.join(stale)} --write-priors"
    from research_harness.workspace import BASELINE_SEEDS, CONFIRMATION_SEEDS

    assert not set(table["seeds"]) & {*BASELINE_SEEDS, *CONFIRMATION_SEEDS} and max(table["seeds"]) < 100_000
    for row in table["ideas"].values():
        lo, hi = row["ci95_relative"]
        assert lo <= row["relative"] <= hi
