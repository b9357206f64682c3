"""A forward that counts its calls in a buffer: the model could act causally while the
parent probes it and differently while it evaluates. The export records the write."""
import torch

from trainer.ideas.base import Idea, extend_module


class _Counting:
    def forward(self, idx, *args, **kwargs):
        self.calls.add_(1)
        return super().forward(idx, *args, **kwargs) + 0 * self.calls


class Stateful(Idea):
    def patch_model(self, model):
        model.register_buffer("calls", torch.zeros(()))
        extend_module(model, _Counting)


IDEA = Stateful(name="stateful_forward", title="forward writes a buffer", category="training-dynamics",
    pitch="A forward that counts its calls in a buffer: the model could act causally while the", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
