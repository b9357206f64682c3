"""A true null for A/A calibration: the experimental arm is initialised from the same
distribution as the baseline but with different draws, and everything else (data order,
architecture, loss, optimizer, schedule) is the baseline's.

patch_model puts a mixin on the model whose `init_weights(seed)` calls the baseline's own
initialisation with a seed from a separate stream (seed + STREAM_OFFSET). The data order
is drawn from the run's seed elsewhere, so it is unchanged. The difference between the two
arms is then pure seed noise, which is what a calibration of the statistics needs: a
gate that often calls this idea a winner is miscalibrated."""

from __future__ import annotations

from trainer.ideas.base import Idea, extend_module

# Far above every seed the workflow uses (42 ... 1024), so the experimental arm's draws
# never coincide with a baseline seed's draws.
STREAM_OFFSET = 1_000_000_007


def null_seed(seed: int) -> int:
    return seed + STREAM_OFFSET


class _NullInitMixin:
    def init_weights(self, seed: int) -> None:
        super().init_weights(null_seed(seed))


class NullInit(Idea):
    def patch_model(self, model) -> None:
        extend_module(model, _NullInitMixin)


IDEA = NullInit(
    name="null_init",
    title="Null control: the baseline with a different initialisation stream",
    category="training-dynamics",
    pitch="An A/A control that trains the unchanged baseline from a different random initialisation (same distribution, same data order), so any difference it shows is seed noise.",
    math=r"\theta_0^{\mathrm{exp}} \sim p(\theta_0)\ \text{(same law, seed } s + 1{,}000{,}000{,}007),\qquad \text{everything else} = \text{baseline}",
    why_it_might_work=("It is not meant to work: its true effect is zero by construction, so the fraction of "
                       "seeds and studies in which the gate calls it a winner measures the gate's false-positive "
                       "rate at this scale."),
    why_it_might_not=("Nothing to fail: any apparent gain or loss is initialisation noise; if the gate calls it "
                      "a winner more often than its nominal alpha, the statistics are miscalibrated."),
    references=["Kohavi et al. (2020). Trustworthy Online Controlled Experiments: A Practical Guide to A/B Testing."],
    # No effect by construction.
    expected_gain=0.0,
    calibration_only=True,
)
