"""Batch 'normalisation' of the residual stream across rows: each row's logits then depend
on the other rows, which share validation tokens with it."""
from trainer.ideas.base import Idea, extend_module


class _Mix:
    def forward(self, x):
        return super().forward(x + 0.5 * x.mean(dim=0, keepdim=True))


class MixRows(Idea):
    def patch_model(self, model):
        for block in model.blocks:
            extend_module(block.mlp, _Mix)


IDEA = MixRows(name="mix_rows", title="Mixes rows of the batch", category="training-dynamics",
    pitch="Batch 'normalisation' of the residual stream across rows: each row's logits then depend", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
