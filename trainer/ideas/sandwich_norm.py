"""Sandwich normalisation: an extra RMSNorm on the output of every residual branch, so
each block normalises both what it reads (pre-norm) and what it writes (post-norm)."""

from __future__ import annotations


import torch

from trainer.ideas.base import Idea, extend_module
from trainer.model import RMSNorm


class _SandwichMixin:
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post_norm(super().forward(x))


class SandwichNorm(Idea):
    def patch_model(self, model) -> None:
        cfg = model.cfg
        for block in model.blocks:
            for branch in (block.attn, block.mlp):
                # Its gain ("post_norm.weight") starts at 1 through the trainer's own init.
                branch.post_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
                extend_module(branch, _SandwichMixin)


IDEA = SandwichNorm(
    name="sandwich_norm",
    title="Sandwich norm: RMSNorm on each residual branch's output as well as its input",
    category="normalization",
    pitch="Normalise the output of every attention and MLP branch before it is added to the residual stream, bounding what any one layer can write.",
    math=r"x_{l+1} = x_l + \mathrm{Norm}_{\text{post}}\!\left(f_l(\mathrm{Norm}_{\text{pre}}(x_l))\right)",
    why_it_might_work=("Pre-norm transformers let branch outputs and the residual stream grow without bound, which "
                       "causes loss spikes and value explosions; CogView needed sandwich LayerNorm to train stably "
                       "in fp16, and Gemma 2 uses post-norms on both sublayers."),
    why_it_might_not=("Each branch writes with unit RMS times a gain from the first step, so the residual stream "
                      "is dominated by the branches (the embedding starts at std 0.02); at 1M tokens and this "
                      "scale there are no instabilities for it to cure, and the extra norms cost time."),
    references=["Ding et al. (2021). CogView: Mastering Text-to-Image Generation via Transformers.",
                "Gemma Team (2024). Gemma 2: Improving Open Language Models at a Practical Size."],
    # CogView and Gemma 2 use it for stability, not for a lower loss; with no instability to
    # cure at this scale and the branches dominating the small embedding at init, the honest
    # prior is no gain (it may even hurt): 0.
    expected_gain=0.0,
)
