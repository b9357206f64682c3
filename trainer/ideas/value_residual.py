"""Value residual learning (ResFormer): every layer after the first mixes the first
layer's value vectors into its own, v_l <- lambda_l v_l + (1 - lambda_l) v_1, with a
learnable lambda_l per layer (initialised to 0.5).

Each block's attention gets a mixin that overrides `project_qkv`; the first layer stores
its values in a holder shared by all layers, the last one clears it after use."""

from __future__ import annotations


import torch
import torch.nn as nn

from trainer.ideas.base import Idea, extend_module


class _Holder:
    """Carries v_1 from the first layer to the later ones within one forward pass."""

    def __init__(self):
        self.v1 = None


class ValueResidualState(nn.Module):
    def __init__(self, holder: _Holder, first: bool, last: bool):
        super().__init__()
        self.holder, self.first, self.last = holder, first, last
        self.lam = None if first else nn.Parameter(torch.full((1,), 0.5))

    def reset_idea_parameters(self, seed: int) -> None:
        if self.lam is not None:
            with torch.no_grad():
                self.lam.fill_(0.5)


class _ValueResidualMixin:
    def project_qkv(self, x):
        q, k, v = super().project_qkv(x)
        state = self.value_residual
        if state.first:
            state.holder.v1 = v
        else:
            lam = state.lam.to(v.dtype)
            v = lam * v + (1 - lam) * state.holder.v1
        if state.last:
            state.holder.v1 = None
        return q, k, v


class ValueResidual(Idea):
    def patch_model(self, model) -> None:
        holder, n = _Holder(), len(model.blocks)
        for i, block in enumerate(model.blocks):
            attn = block.attn
            attn.value_residual = ValueResidualState(holder, first=i == 0, last=i == n - 1)
            extend_module(attn, _ValueResidualMixin)


IDEA = ValueResidual(
    name="value_residual",
    title="Value residual learning: later layers mix in the first layer's values",
    category="attention",
    pitch="Give every attention layer a learnable shortcut to the first layer's value vectors, so token-level information survives depth without extra attention cost.",
    math=r"V_l \leftarrow \lambda_l V_l + (1 - \lambda_l)\, V_1,\qquad \lambda_l \in \mathbb{R},\ \lambda_l^{(0)} = 0.5,\ l = 2,\dots,L",
    why_it_might_work=("Deep layers concentrate attention on a few sink tokens and lose token-level detail; a "
                       "residual path to V_1 restores it. ResFormer matches the baseline's loss with roughly "
                       "10-16% fewer parameters or tokens, and the trick is part of the modded-nanoGPT speedruns."),
    why_it_might_not=("The tiny and cpu-small presets have only 2-4 layers, where attention concentration barely "
                      "occurs; the benefit reported grows with depth."),
    references=["Zhou et al. (2024). Value Residual Learning For Alleviating Attention Concentration in Transformers."],
    # Zhou et al. report the baseline's loss with 10-20% fewer parameters or tokens (about
    # 1-2% lower loss at equal tokens, 82M-468M models). The gain grows with depth and the
    # presets here have 2-4 layers, so about a quarter of it: 0.4%.
    expected_gain=0.004,
)
