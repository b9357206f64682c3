"""z-loss: an auxiliary penalty on the squared log-partition function of the output
softmax, pulling log Z towards 0 (PaLM used a coefficient of 1e-4)."""

from __future__ import annotations

import functools

import torch

from trainer.ideas.base import Idea

COEFFICIENT = 1e-4


def z_loss(logits: torch.Tensor, targets: torch.Tensor, *, inner, coefficient: float = COEFFICIENT) -> torch.Tensor:
    log_z = torch.logsumexp(logits.float().view(-1, logits.size(-1)), dim=-1)
    return inner(logits, targets) + coefficient * log_z.square().mean()


class ZLoss(Idea):
    def patch_model(self, model) -> None:
        # Wraps whatever loss is in place, so it composes with other loss changes.
        model.loss_fn = functools.partial(z_loss, inner=model.loss_fn)


IDEA = ZLoss(
    name="z_loss",
    title="z-loss: penalise the squared log-partition function of the output softmax",
    category="training-dynamics",
    pitch="Add 1e-4 * (log Z)^2 to the training loss so the output logits stay self-normalised and cannot drift to large magnitudes.",
    math=r"\mathcal{L} = \mathcal{L}_{\mathrm{CE}} + 10^{-4}\,\frac{1}{N}\sum_{i=1}^{N} \left(\log \sum_{j} e^{z_{ij}}\right)^2",
    why_it_might_work=("Softmax is invariant to a shift of the logits, so their mean can drift freely; large "
                       "logits make bf16 round-off and loss spikes more likely. PaLM used z-loss to keep training "
                       "stable and it has since become standard (e.g. OLMo 2)."),
    why_it_might_not=("It is a stability aid rather than a loss improver: at this scale and budget there may be "
                      "no divergence to prevent, and the penalty slightly biases the logits away from the "
                      "cross-entropy optimum."),
    references=["Chowdhery et al. (2022). PaLM: Scaling Language Modeling with Pathways.",
                "Zoph et al. (2022). ST-MoE: Designing Stable and Transferable Sparse Expert Models."],
    # PaLM used it to prevent divergence and reports no loss gain; at 1e-4 it slightly biases
    # the logits away from the cross-entropy optimum, and there is no instability to prevent
    # here: 0.
    expected_gain=0.0,
)
