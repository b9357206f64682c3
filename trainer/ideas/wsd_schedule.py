"""Warmup-stable-decay (WSD) learning-rate schedule: the baseline's linear warmup, then a
constant peak learning rate, then a short decay over the last 20% of the token budget
(1 - sqrt shape, down to the baseline's final_lr_frac)."""

from __future__ import annotations

import math

from trainer.ideas.base import Idea

DECAY_FRAC = 0.2


def wsd_multiplier(progress: float, warmup_frac: float, final_frac: float, decay_frac: float = DECAY_FRAC) -> float:
    if progress < warmup_frac:
        return max(progress / warmup_frac, 1e-3)
    decay_start = 1.0 - decay_frac
    if progress < decay_start:
        return 1.0
    t = min(1.0, (progress - decay_start) / decay_frac)
    return final_frac + (1.0 - final_frac) * (1.0 - math.sqrt(t))


class WSDSchedule(Idea):
    def lr_multiplier(self, progress: float, cfg, default) -> float:
        return wsd_multiplier(progress, cfg.warmup_frac, cfg.final_lr_frac)


IDEA = WSDSchedule(
    name="wsd_schedule",
    title="Warmup-stable-decay learning-rate schedule",
    category="training-dynamics",
    pitch="Replace cosine decay with a constant peak learning rate and a short 1-sqrt cool-down over the last 20% of tokens.",
    math=(r"\eta(p) = \eta_{\max}\begin{cases} p / p_w & p < p_w \\ 1 & p_w \le p < 1 - p_d \\ "
          r"f + (1 - f)\left(1 - \sqrt{\tfrac{p - (1 - p_d)}{p_d}}\right) & p \ge 1 - p_d \end{cases},"
          r"\quad p_d = 0.2"),
    why_it_might_work=("Training at the peak rate for longer makes more progress in the high-noise phase, and "
                       "the short cool-down recovers the loss that cosine gets from its long tail; MiniCPM and "
                       "Hägele et al. find WSD matches or beats cosine at equal compute, and the 1-sqrt "
                       "cool-down was the best shape they tried."),
    why_it_might_not=("At 1M tokens the run is short, so a constant high rate may spend most of it bouncing at "
                      "a noise floor; the gain reported is mostly about not needing the budget in advance, not "
                      "a lower final loss."),
    references=["Hu et al. (2024). MiniCPM: Unveiling the Potential of Small Language Models with Scalable Training Strategies.",
                "Hägele et al. (2024). Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations."],
    # Hägele et al. find WSD with a 20% 1-sqrt cool-down matches or slightly beats cosine at
    # equal compute (well under 1% at 124M-360M); its main gain is not needing the budget in
    # advance, which this fixed-budget comparison does not reward: 0.2%.
    expected_gain=0.002,
)
