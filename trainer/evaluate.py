"""The one evaluation: mean next-token loss and top-1 accuracy on fixed validation windows.

An in-process run scores its model with it, and the study process scores the export a
sandboxed run hands back with it (research_harness.sandbox), so both arms of a
comparison are measured by the same code, on the same device, in the same dtype and at
the same batch shape. Batches always have the full static shape (an export is traced at
one shape): a short last batch is padded with copies of its first row, which are left
out of the sums."""

from __future__ import annotations

import contextlib
from typing import Callable

import torch


def autocast(device: torch.device, dtype: str):
    """bf16 autocast on CUDA by default; on a CPU only when asked for (it is slower on
    AVX2 CPUs, but lets the CUDA numerics path be tested without a GPU)."""
    if dtype == "bf16" or (dtype == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batches(windows: torch.Tensor, batch_size: int):
    """(inputs, targets, rows that count) per batch of the static shape [batch_size, T]."""
    for i in range(0, len(windows), batch_size):
        w = windows[i : i + batch_size]
        n = len(w)
        if n < batch_size:
            w = torch.cat([w, w[:1].expand(batch_size - n, -1)])
        yield w[:, :-1], w[:, 1:], n


@torch.no_grad()
def evaluate(forward: Callable[[torch.Tensor], torch.Tensor], windows: torch.Tensor, batch_size: int,
             device: torch.device, dtype: str) -> tuple[float, float]:
    """(mean loss, top-1 accuracy) of `forward` (tokens [B, T] -> logits [B, T, V]) over
    `windows` ([N, T + 1] token ids on `device`)."""
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    for x, y, n in batches(windows, batch_size):
        with autocast(device, dtype):
            logits = forward(x)
        logits, y = logits[:n].float(), y[:n]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        total_loss += loss.double()
        correct += (logits.argmax(-1) == y).sum().double()
        count += y.numel()
    return (total_loss / count).item(), (correct / count).item()


def validation_windows(val_tokens, seq_len: int, eval_tokens: int, device: torch.device) -> torch.Tensor:
    """The fixed validation windows of a run: consecutive [seq_len + 1] slices from the
    start of the held-out split (consecutive windows share one token)."""
    import numpy as np  # noqa: PLC0415

    val = np.asarray(val_tokens).astype(np.int64)
    n_val = min(len(val) - 1, max(seq_len, eval_tokens)) // seq_len
    return torch.from_numpy(np.stack([val[i * seq_len : (i + 1) * seq_len + 1] for i in range(n_val)])).to(device)
