"""Logit soft-capping: squash the output logits smoothly into (-c, c) with
c * tanh(logits / c), c = 30 as in Gemma 2.

The model class gets a mixin that overrides `GPT.logits`, which both the training loss
(forward with targets) and evaluation (forward without targets) go through, so the two
always see the same capped logits."""

from __future__ import annotations


import torch

from trainer.ideas.base import Idea, extend_module

CAP = 30.0


class _SoftcapMixin:
    logit_softcap = CAP

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        c = self.logit_softcap
        return c * torch.tanh(super().logits(h).float() / c)


class LogitSoftcap(Idea):
    def patch_model(self, model) -> None:
        extend_module(model, _SoftcapMixin)


IDEA = LogitSoftcap(
    name="logit_softcap",
    title="Logit soft-capping: c * tanh(logits / c) on the LM head, c = 30",
    category="training-dynamics",
    pitch="Bound the output logits smoothly to (-30, 30) with a scaled tanh, so no token's logit can grow without limit.",
    math=r"z \leftarrow c \tanh\!\left(\frac{z}{c}\right),\qquad c = 30",
    why_it_might_work=("Capping removes the incentive to inflate logit norms to sharpen the softmax, which keeps "
                       "the tied embedding well-conditioned; Gemma 2 uses it for stability and it is one of the "
                       "cumulative gains in the modded-nanoGPT speedruns (there with a smaller cap)."),
    why_it_might_not=("At c = 30 the cap is barely active unless logits are large, which a small model with a tied "
                      "embedding at 1M tokens rarely reaches; a smaller cap may be needed to see any effect."),
    references=["Gemma Team (2024). Gemma 2: Improving Open Language Models at a Practical Size.",
                "Bello et al. (2016). Neural Combinatorial Optimization with Reinforcement Learning."],
    # Gemma 2 adopts it for stability, without a loss gain of its own; in the modded-nanoGPT
    # speedruns a cap (there 15-30) gave a small speedup. At c = 30 the cap is rarely active
    # in a tiny model at 1M tokens: 0.1%.
    expected_gain=0.001,
)
