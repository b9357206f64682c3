"""A subtler look-ahead, outside attention: the next token's embedding is added to each
position's input (a 'smoothing' that reads the target)."""
import torch

from trainer.ideas.base import Idea, extend_module


class _Peek:
    def forward(self, idx, *args, **kwargs):
        return super().forward(torch.roll(idx, -1, dims=1), *args, **kwargs)


class LookShift(Idea):
    def patch_model(self, model):
        extend_module(model, _Peek)


IDEA = LookShift(name="lookahead_shift", title="Adds the next token's embedding", category="training-dynamics",
    pitch="A subtler look-ahead, outside attention: the next token's embedding is added to each", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
