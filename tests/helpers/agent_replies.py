"""One good reply per task, and the call that asks for it: shared by the tests of every
transport (test_agent_openai.py, test_agent_anthropic.py), so each is held to the same
conversation."""

PROPOSAL = {"name": "qk_clip", "category": "attention", "title": "QK-clip", "pitch": "Clip attention logits.",
            "math": r"s_{ij} = \min(s_{ij}, c)", "why_it_might_work": "Bounded logits train stably.",
            "why_it_might_not": "No instability at this scale.", "references": ["Kimi Team (2025). Kimi K2."],
            "success_criterion": "Cohen's d >= 0.5 on final val_loss"}
SECOND = {**PROPOSAL, "name": "soft_gate", "category": "normalization", "title": "Soft gate"}
REVIEW = {"scores": [{"name": "qk_clip", "feasibility": 5, "novelty": 3, "testability": 4, "rationale": "small"},
                     {"name": "soft_gate", "feasibility": 4, "novelty": 4, "testability": 4, "rationale": "new"}],
          "selected": "soft_gate"}
REFINE = {"hypothesis": "--use_qk_clip lowers final val_loss", "control": "flag off, seeds 42/137/256",
          "experimental": "flag on, same seeds", "expected_effect": {"nats": 0.01, "sigmas": 1.5},
          "success_criterion": "Cohen's d >= 0.5", "plan": ["implement", "smoke test", "3 seeds per arm"]}
MODULE = "import torch\nfrom trainer.ideas.base import Idea\n\nIDEA = Idea(name='qk_clip')\n"
FINDINGS = {"findings": [{"section": "Results", "severity": "major", "issue": "no error bars", "fix": "add std"}]}
REVISION = {"sections": {"Results": "Mean 4.21 ± 0.01 (N = 3)."}, "changelog": ["Results: added error bars"]}

HAPPY = {  # task -> (call, scripted reply, expected result)
    "propose": (lambda a: a.propose({"tried": ["z_loss"], "baseline": "val_loss 4.2"}, n=2),
                {"ideas": [PROPOSAL, SECOND]}, [PROPOSAL, SECOND]),
    "review": (lambda a: a.review([PROPOSAL, SECOND], {"idea_log": "z_loss: failed"}), REVIEW, REVIEW),
    "refine": (lambda a: a.refine(PROPOSAL, {"baseline_std": 0.007}), REFINE, REFINE),
    "implement": (lambda a: a.implement(PROPOSAL, {"plan": REFINE["plan"]}),
                  {"module": "```python\n" + MODULE + "```"}, MODULE),
    "review_paper": (lambda a: a.review_paper("# Title\n## Results\n4.21", {}), FINDINGS, FINDINGS["findings"]),
    "review_abstract": (lambda a: a.review_abstract("We show 4.21.", {}), {"findings": []}, []),
    "revise_paper": (lambda a: a.revise_paper({"Results": "4.21"}, FINDINGS["findings"], {}), REVISION, REVISION),
}
