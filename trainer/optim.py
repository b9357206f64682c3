"""Muon for the 2-D hidden matrices, AdamW for embeddings and gains (the source's split),
and the learning-rate schedule."""

from __future__ import annotations

import math

import torch

from trainer.config import TrainConfig


def newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximate the orthogonal polar factor U V^T of G (quintic iteration of
    Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks")."""
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.bfloat16() if G.is_cuda else G.float()
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    if transposed:
        X = X.mT
    return X.to(G.dtype)


class Muon(torch.optim.Optimizer):
    """Momentum, then orthogonalise the update; scaled so tall and wide matrices move alike."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 weight_decay: float = 0.0, ns_steps: int = 5):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      ns_steps=ns_steps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                update = newton_schulz(update, group["ns_steps"])
                scale = max(1.0, p.size(-2) / p.size(-1)) ** 0.5
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * scale)


def split_params(model: torch.nn.Module):
    """Hidden 2-D matrices go to Muon; the embedding (tied head) and 1-D gains to AdamW."""
    muon, adamw = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (muon if p.ndim == 2 and "embed" not in name else adamw).append(p)
    return muon, adamw


def build_optimizers(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> list[torch.optim.Optimizer]:
    muon_params, adamw_params = split_params(model)
    opts: list[torch.optim.Optimizer] = []
    if muon_params:
        opts.append(Muon(muon_params, lr=cfg.muon_lr, momentum=cfg.muon_momentum, weight_decay=cfg.weight_decay))
    if adamw_params:
        opts.append(torch.optim.AdamW(adamw_params, lr=cfg.adamw_lr, betas=cfg.adamw_betas, eps=1e-8,
                                      weight_decay=cfg.weight_decay, fused=device.type == "cuda"))
    for opt in opts:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    return opts


def lr_multiplier(progress: float, cfg: TrainConfig) -> float:
    """Linear warmup over `warmup_frac` of the token budget, then cosine decay to
    `final_lr_frac` of the peak. `progress` is tokens seen / token budget."""
    if progress < cfg.warmup_frac:
        return max(progress / cfg.warmup_frac, 1e-3)
    t = min(1.0, (progress - cfg.warmup_frac) / max(1e-9, 1 - cfg.warmup_frac))
    return cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * t))
