"""Muon for the 2-D hidden matrices, AdamW for embeddings and gains (the source's split),
and the learning-rate schedule."""

from __future__ import annotations

import math

import torch

from trainer.config import TrainConfig


def newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximate the orthogonal polar factor U V^T of G (quintic iteration of
    Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks").
    G may be a stack of matrices (..., rows, cols): one batched iteration orthogonalises all."""
    a, b, c = 3.4445, -4.7750, 2.0315
    if G.size(-2) > G.size(-1):  # iterate on the wide orientation: X X^T is the smaller Gram matrix
        return newton_schulz(G.mT, steps, eps).mT
    X = G.bfloat16() if G.is_cuda else G.float()
    X = X.reshape(-1, *X.shape[-2:])  # baddbmm wants exactly one batch dimension
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        A = torch.bmm(X, X.mT)
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b A + c A^2 in one call, rounded once
        X = torch.baddbmm(X, B, X, beta=a)  # a X + B X
    return X.reshape(G.shape).to(G.dtype)


def muon_update(params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor], lr: torch.Tensor,
                momentum: float, nesterov: bool, weight_decay: float, ns_steps: int) -> None:
    """One Muon step for a list of matrices in a few large operations, whatever their number:
    the momentum of all of them in two foreach calls, then one batched Newton-Schulz per
    shape and one foreach call applying that shape's updates. Per-matrix launches were the
    suspected bound on a GPU (130 matrices x 5 iterations). `lr` is a 0-d tensor, so a
    compiled update would take it as an input rather than bake it in."""
    torch._foreach_lerp_(bufs, grads, 1 - momentum)
    updates = torch._foreach_lerp(grads, bufs, momentum) if nesterov else bufs
    if weight_decay:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
    by_shape: dict[tuple, list[int]] = {}
    for i, p in enumerate(params):
        by_shape.setdefault((p.shape, p.dtype, p.device), []).append(i)
    for (shape, _, _), idx in by_shape.items():
        orthogonal = newton_schulz(torch.stack([updates[i] for i in idx]), ns_steps)
        # Tall matrices move by sqrt(rows/cols) more, so tall and wide ones move alike.
        orthogonal.mul_(lr * max(1.0, shape[-2] / shape[-1]) ** 0.5)
        torch._foreach_sub_([params[i] for i in idx], orthogonal.unbind(0))


_COMPILED_UPDATE = None


def compiled_muon_update():
    """muon_update compiled once per process and shared by every Muon: the guards are on the
    matrices' shapes and dtypes, not on which tensors they are, so the optimizers of the
    next run (same model, fresh momentum buffers) reuse the graph, and the lr tensor is an
    input, so the schedule recompiles nothing."""
    global _COMPILED_UPDATE
    if _COMPILED_UPDATE is None:
        _COMPILED_UPDATE = torch.compile(muon_update, dynamic=False)
    return _COMPILED_UPDATE


class Muon(torch.optim.Optimizer):
    """Momentum, then orthogonalise the update; scaled so tall and wide matrices move alike.
    The step is batched (muon_update), and compiled when `compiled` (the run's model is);
    the state stays per parameter (`momentum_buffer`), so state_dict, load_state_dict and
    editable param_groups work as for any optimizer."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 weight_decay: float = 0.0, ns_steps: int = 5, compiled: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      ns_steps=ns_steps))
        self._held_lr: dict[int, torch.Tensor] = {}
        self._update = compiled_muon_update() if compiled else muon_update

    def _lr_tensor(self, index: int, group: dict, device: torch.device) -> torch.Tensor:
        """The group's lr in a 0-d tensor kept for the group, refilled every step from
        param_groups (the training loop writes group["lr"] as a float before each step):
        an in-place fill, no new tensor and no host-to-device copy per step."""
        held = self._held_lr.get(index)
        if held is None or held.device != device:
            held = self._held_lr[index] = torch.zeros((), device=device)
        return held.fill_(group["lr"])

    @torch.no_grad()
    def step(self, closure=None):
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)
            self._update(params, [p.grad for p in params], [self.state[p]["momentum_buffer"] for p in params],
                        self._lr_tensor(index, group, params[0].device), group["momentum"], group["nesterov"],
                        group["weight_decay"], group["ns_steps"])


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
        opts.append(Muon(muon_params, lr=cfg.muon_lr, momentum=cfg.muon_momentum, weight_decay=cfg.weight_decay,
                         compiled=cfg.compiles(device)))
    if adamw_params:
        # One fused kernel on CUDA; elsewhere foreach: a few calls for all parameters, not ~16 each.
        impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
        opts.append(torch.optim.AdamW(adamw_params, lr=cfg.adamw_lr, betas=cfg.adamw_betas, eps=1e-8,
                                      weight_decay=cfg.weight_decay, **impl))
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
