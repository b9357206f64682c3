"""Attention without the causal mask: each position reads the tokens after it."""
import torch.nn.functional as F

from trainer.ideas.base import Idea, extend_module


class _Bidirectional:
    def attend(self, q, k, v):
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False, enable_gqa=self.n_kv_heads != self.n_heads)
        B, H, T, D = y.shape
        return self.o_proj(y.transpose(1, 2).reshape(B, T, H * D))


class LookRow(Idea):
    def patch_model(self, model):
        for block in model.blocks:
            extend_module(block.attn, _Bidirectional)


IDEA = LookRow(name="lookahead_row", title="Non-causal attention", category="training-dynamics",
    pitch="Attention without the causal mask: each position reads the tokens after it.", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
