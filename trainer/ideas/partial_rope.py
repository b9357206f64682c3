"""Partial RoPE: rotate only the first half of each head's channels and leave the rest
position-free (GPT-NeoX's rotary_pct; analysed by Barbero et al., 2024)."""

from __future__ import annotations

from trainer.ideas.base import Idea
from trainer.model import Rotary

ROTARY_FRACTION = 0.5


def rotary_dim_for(head_dim: int, fraction: float = ROTARY_FRACTION) -> int:
    """The rotated channels: a positive even number no larger than head_dim."""
    return max(2, int(head_dim * fraction) // 2 * 2)


class PartialRope(Idea):
    def patch_model(self, model) -> None:
        cfg = model.cfg
        for block in model.blocks:
            attn = block.attn
            attn.rotary = Rotary(attn.head_dim, cfg.seq_len, cfg.rope_base, rotary_dim=rotary_dim_for(attn.head_dim))


IDEA = PartialRope(
    name="partial_rope",
    title="Partial RoPE: rotary embedding on half of each head's channels",
    category="positional",
    pitch="Apply rotary position embedding to only half of each head's dimensions, leaving the other half as position-independent semantic channels.",
    math=(r"q = [\,R_{\Theta, m}\, q_{1:d_r};\ q_{d_r+1:d_h}\,],\quad k = [\,R_{\Theta, n}\, k_{1:d_r};\ k_{d_r+1:d_h}\,],"
          r"\quad d_r = d_h / 2"),
    why_it_might_work=("Barbero et al. show that models use the lowest RoPE frequencies as quasi-semantic channels "
                       "that rotation slowly corrupts over distance; unrotated channels give attention a clean "
                       "content-matching path. GPT-NeoX and GPT-J train with partial rotary (25%), and Barbero et "
                       "al. report improved perplexity when truncating the lowest frequencies."),
    why_it_might_not=("With sequences of only 64-256 tokens the low frequencies barely rotate, so there may be "
                      "little to fix, and removing positional signal from half the channels can cost some "
                      "local-order modelling in very small heads (head_dim 16)."),
    references=["Black et al. (2022). GPT-NeoX-20B: An Open-Source Autoregressive Language Model.",
                "Barbero et al. (2024). Round and Round We Go! What makes Rotary Positional Encodings useful?",
                "Su et al. (2021). RoFormer: Enhanced Transformer with Rotary Position Embedding."],
    # Barbero et al. report perplexity gains well under 1% from truncating the lowest RoPE
    # frequencies in a 2B model; with 64-256 token rows those frequencies barely rotate, so
    # little is left to fix: 0.1%.
    expected_gain=0.001,
)
