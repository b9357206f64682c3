"""What a run prints while it trains: the progress bar and the per-evaluation lines. Kept
out of the loop's module (trainer/run.py), which the code fingerprint covers: editing a
message here never changes a run key."""

from __future__ import annotations

import sys
import time


class Bar:
    """A one-line progress bar on stderr with tokens/s; silent unless enabled."""

    def __init__(self, total_tokens: int, enabled: bool):
        self.total, self.enabled, self.t0, self.last = total_tokens, enabled, time.perf_counter(), 0.0

    def update(self, tokens: int, loss: float | None) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.5 and tokens < self.total):
            return
        self.last = now
        frac = min(1.0, tokens / self.total)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        rate = tokens / max(1e-9, now - self.t0)
        loss_s = f" loss {loss:.4f}" if loss is not None else ""
        sys.stderr.write(f"\r[{bar}] {tokens:,}/{self.total:,} tok {rate:,.0f} tok/s{loss_s}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def eval_line(step: int, val_loss: float, val_accuracy: float, tokens: int) -> str:
    return f"Step {step} | val_loss: {val_loss:.4f} | val_accuracy: {val_accuracy:.4f} | tokens: {tokens:,}"


def resume_line(out, step: int, tokens: int) -> str:
    return f"[resume] {out}: continuing from step {step} ({tokens:,} tokens)"
