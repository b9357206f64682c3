"""LayerScale: a learnable per-channel gain on the output of every residual branch
(attention and MLP), initialised small so each block starts close to the identity."""

from __future__ import annotations


import torch
import torch.nn as nn

from trainer.ideas.base import Idea, extend_module

# CaiT's value for networks up to 18 blocks (it uses 1e-5 and 1e-6 for deeper ones); kept
# at 0.1 on every preset so results compare across presets.
INIT = 0.1


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float):
        super().__init__()
        self.init = init
        self.gain = nn.Parameter(torch.full((dim,), init))

    def reset_idea_parameters(self, seed: int) -> None:
        with torch.no_grad():
            self.gain.fill_(self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain.to(x.dtype)


class _LayerScaleMixin:
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layerscale(super().forward(x))


class LayerScaleIdea(Idea):
    def patch_model(self, model) -> None:
        cfg = model.cfg
        for block in model.blocks:
            for branch in (block.attn, block.mlp):
                branch.layerscale = LayerScale(cfg.d_model, INIT)
                extend_module(branch, _LayerScaleMixin)


IDEA = LayerScaleIdea(
    name="layerscale",
    title="LayerScale: learnable per-channel gains on each residual branch",
    category="normalization",
    pitch="Multiply every attention and MLP output by a learnable diagonal gain initialised at 0.1, so blocks start near the identity and the network learns how much each channel of each branch contributes.",
    math=r"x_{l+1} = x_l + \mathrm{diag}(\gamma_l)\, f_l(\mathrm{Norm}(x_l)),\qquad \gamma_l \in \mathbb{R}^{d},\ \gamma_l^{(0)} = 0.1",
    why_it_might_work=("Per-channel gains make the contribution of each branch easy to learn and keep early "
                       "training close to a shallow network; CaiT needed it to train deeper ViTs and it improved "
                       "accuracy at every depth tested."),
    why_it_might_not=("The residual output projections here already start at zero, so blocks already begin as the "
                      "identity; Muon's normalised updates then make the gain mostly a per-channel learning-rate "
                      "scale, and in 2-22 layer language models LayerScale has often been neutral."),
    references=["Touvron et al. (2021). Going deeper with Image Transformers."],
    # CaiT's gains are for deep (24-36 block) image transformers; in 2-22 layer language
    # models LayerScale has mostly been neutral, and the residual outputs here already start
    # at zero: close to nothing, 0.1%.
    expected_gain=0.001,
)
