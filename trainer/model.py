"""A GPT-style decoder: token embedding tied to the LM head, pre-norm RMSNorm blocks,
attention with RoPE, QK-norm and grouped-query heads, and a squared-ReLU MLP.

Ideas change the model by swapping or wrapping these modules after construction
(see trainer/ideas/base.py), so the baseline forward pass below is the whole story."""

from __future__ import annotations

import math
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainer.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Under bf16 autocast x arrives in bf16 and the gain is fp32: with mixed dtypes
        # rms_norm falls back to its unfused path (and warns), so the gain follows x.
        return F.rms_norm(x, (x.size(-1),), self.weight.to(x.dtype), self.eps)


class Rotary(nn.Module):
    """Rotary position embedding over the first `rotary_dim` channels of each head."""

    def __init__(self, head_dim: int, max_seq_len: int, base: float = 10000.0, rotary_dim: int | None = None):
        super().__init__()
        self.rotary_dim = rotary_dim or head_dim
        inv_freq = 1.0 / (base ** (torch.arange(0, self.rotary_dim, 2, dtype=torch.float32) / self.rotary_dim))
        angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H, T, D)
        T = x.size(-2)
        cos, sin = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
        rot, rest = x[..., : self.rotary_dim], x[..., self.rotary_dim :]
        x1, x2 = rot.chunk(2, dim=-1)
        rotated = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return rotated if rest.size(-1) == 0 else torch.cat((rotated, rest), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)
        self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)
        self.rotary = Rotary(cfg.head_dim, cfg.seq_len, cfg.rope_base)

    def project_qkv(self, x: torch.Tensor):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotary(self.q_norm(q)), self.rotary(self.k_norm(k))
        return q, k, v

    def attend(self, q, k, v) -> torch.Tensor:
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv_heads != self.n_heads)
        B, H, T, D = y.shape
        return self.o_proj(y.transpose(1, 2).reshape(B, T, H * D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(*self.project_qkv(x))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.relu(self.up(x)).square())


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, index: int):
        super().__init__()
        self.index = index
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.final_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        # Ideas may replace this (z-loss, label smoothing); it runs inside forward so a
        # compiled model fuses it with the logits instead of materialising fp32 logits twice.
        self.loss_fn = cross_entropy_loss

    def init_weights(self, seed: int) -> None:
        """Seeded initialisation, identical for a fresh model and a reused one.

        Each parameter draws from its own generator, seeded by (seed, parameter name),
        so a parameter an idea adds never shifts the baseline's weights. Modules that
        bring their own rule define `reset_idea_parameters(seed)`, called last."""
        for name, p in self.named_parameters():
            gen = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
            if p.ndim == 1:
                init = torch.ones(p.shape) if name.endswith("weight") else torch.zeros(p.shape)
            elif name.endswith(("o_proj.weight", "down.weight")):
                # Zero-init residual outputs: every block starts as the identity.
                init = torch.zeros(p.shape)
            else:
                std = 0.02 if p is self.embed.weight else 1.0 / math.sqrt(p.size(1))
                init = torch.randn(p.shape, generator=gen) * std
            with torch.no_grad():
                p.copy_(init.to(p.device, p.dtype))
        for module in self.modules():
            if hasattr(module, "reset_idea_parameters"):
                module.reset_idea_parameters(seed)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.embed.weight)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.logits(self.hidden_states(idx))
        if targets is None:
            return logits
        return self.loss_fn(logits, targets)

    def num_params(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        return {"total": total, "non_embedding": total - self.embed.weight.numel()}
