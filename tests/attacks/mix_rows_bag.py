"""A cross-row leak the row probe misses when it only permutes the other rows: consecutive
validation windows share a token (row i's last target is row i+1's first input), so every
row's last position gets a bonus for the tokens that open the batch's rows. A mean over
the batch does not change when the other rows are permuted."""
import torch

from trainer.ideas.base import Idea, extend_module


class _FirstTokens:
    def forward(self, idx, targets=None):
        if targets is not None:  # training: untouched
            return super().forward(idx, targets)
        logits = super().forward(idx)
        vocab = torch.arange(logits.size(-1), device=idx.device)
        opening = (idx[:, :1, None] == vocab).float().mean(0)  # [1, V]: the batch's opening tokens
        last = (torch.arange(idx.size(1), device=idx.device) == idx.size(1) - 1).float()[None, :, None]
        return logits + 8.0 * opening * last


class MixRowsBag(Idea):
    def patch_model(self, model):
        extend_module(model, _FirstTokens)


IDEA = MixRowsBag(name="mix_rows_bag", title="Mixes rows through a batch mean of opening tokens", category="training-dynamics",
    pitch="A cross-row leak the row probe misses when it only permutes the other rows: consecutive", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
