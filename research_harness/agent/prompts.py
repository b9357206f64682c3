"""What every model is told, whichever backend carries it: the setting, each task's
instructions and reply shape (the system message), and the rendering of a skill's inputs
(the user message). Backend-independent on purpose: a transport only moves these
messages (docs/AGENT.md is the wire spec).

The text is part of each transcript's hash (transcripts.py): any change here means the
model is asked afresh instead of replayed, so edit it when the instructions must change,
not for style."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import trainer.ideas

from research_harness.agent import wire
from research_harness.sandbox import guard

__all__ = ["SETTING", "EXAMPLE_MODULE", "system_prompt", "render_inputs", "request", "retry"]

# -- what every model is told ---------------------------------------------------------------------
SETTING = """\
You are one step of an automated research workflow on small-LLM pretraining. The trainer is a \
compact GPT (token embedding tied to the LM head, pre-norm RMSNorm blocks, attention with RoPE, \
QK-norm and grouped-query heads, squared-ReLU MLP), trained with Muon for hidden matrices and AdamW \
for embeddings and gains, warmup then cosine decay, on a fixed token budget (about 1M tokens on CPU). \
Each idea is a small Python module behind a flag (--use_<name>); a study trains the baseline (flag off) \
and the idea (flag on) on the same seeds (42, 137, 256, then 512 and 1024 if suggestive) and compares \
final validation loss (lower is better) by Cohen's d, Hedges' g, a confidence interval and a one-sided \
paired t-test on the per-seed differences (both arms share each seed's data order). Judge honestly: a well-argued "this will not work" is worth more than enthusiasm."""

REPLY_RULE = """\
Reply with ONE JSON object and nothing else (no prose, no markdown fences), of exactly this shape:
{shape}"""

MODEL_API = """\
The model you change (trainer.model), as the hooks see it:
  model.cfg: ModelConfig(vocab_size, n_layers, d_model, n_heads, n_kv_heads, d_ff, seq_len, rope_base, norm_eps)
  model.embed: nn.Embedding (also the LM head: model.logits(h) = F.linear(h, model.embed.weight))
  model.blocks[i]: Block with attn_norm, attn, mlp_norm, mlp; forward: x = x + attn(attn_norm(x)); x + mlp(mlp_norm(x))
  block.attn: Attention with q_proj, k_proj, v_proj, o_proj (nn.Linear, no bias), q_norm, k_norm (RMSNorm),
      rotary, n_heads, n_kv_heads, head_dim; project_qkv(x) -> q, k, v of shape (B, H, T, D) after norm and RoPE;
      attend(q, k, v) -> output after o_proj; forward(x) = attend(*project_qkv(x))
  block.mlp: MLP with up, down (nn.Linear); forward(x) = down(relu(up(x)) ** 2)
  model.final_norm: RMSNorm; model.hidden_states(idx) -> final normed hidden states
  model.loss_fn(logits, targets) -> scalar loss (training only; replace it to change the loss)
  model.init_weights(seed): seeds every parameter by name; a module you add that needs its own
      initialisation defines reset_idea_parameters(seed), which init_weights calls last.
Optimizers: build_optimizers(model, cfg, device, default) must return a list of torch.optim.Optimizer whose
  param_groups each carry "initial_lr" (the trainer sets lr = initial_lr * lr_multiplier every step);
  call default(model, cfg, device) for the baseline's pair (Muon, AdamW)."""

# The example the implement prompt shows is a real built-in idea, so it cannot drift from
# what the trainer accepts (a test keeps it passing the guard).
EXAMPLE_MODULE = (Path(trainer.ideas.__file__).parent / "z_loss.py").read_text(encoding="utf-8")


def _extension_points() -> str:
    from trainer.ideas import base

    return (base.__doc__ or "").strip()


def _task_text(task: str, **params: Any) -> str:
    if task == "propose":
        return f"""\
Propose {params['n']} new research ideas, each testable at this scale within the token budget and each \
implementable as one small module (fewer than {guard.MAX_CODE_LINES} lines) that acts only through the \
trainer's extension points (below). Prefer ideas from different categories, grounded in published work; \
cite only papers you are sure exist, in the form "Author et al. (year). Title." (an empty list is \
better than an invented reference). Never reuse a name listed under "tried" in the inputs: such ideas \
are dropped. A plain hyperparameter change is a weak idea. `math` is LaTeX without $$. \
`success_criterion` states the measurable outcome (default: Cohen's d >= 0.5 on final val_loss, lower \
is better, at the study's budget and seeds).

Extension points:
{_extension_points()}"""
    if task == "review":
        return f"""\
Review the candidate ideas in the inputs. Score every candidate from 1 (worst) to 5 (best) on:
  feasibility: can it be built in fewer than {guard.MAX_CODE_LINES} lines through the extension points, and trained at the budget?
  novelty: is it new relative to the ideas already tried and to the baseline (a plain hyperparameter change scores 1-2)?
  testability: will its effect show in final val_loss at the budget with 3-5 seeds (an effect that only acts
      late in training, or only at larger scale, scores low)?
Give a one- or two-sentence rationale per candidate, then select the one to test: the highest total, ties to
novelty, then feasibility. Score exactly the candidates given, by their names."""
    if task == "refine":
        return """\
Turn the selected idea into a concrete, falsifiable experiment plan.
  hypothesis: one sentence naming the flag (--use_<name>), the direction and the measured quantity.
  control / experimental: the two arms (baseline with the flag off; the same with the flag on; same seeds).
  expected_effect: your predicted reduction of final val_loss, in nats (>= 0; 0 if you expect none) and in
      units of the baseline's seed-to-seed standard deviation (sigmas; use the baseline's std in the inputs).
  success_criterion: the decision rule (e.g. Cohen's d >= 0.5, lower val_loss is better).
  plan: the ordered steps (implement, smoke test, runs per seed, analysis), one string each."""
    if task == "implement":
        return f"""\
Write the Python module that implements the idea in the inputs. It defines a subclass of \
trainer.ideas.base.Idea that overrides only the hooks it needs, and a module-level IDEA = <instance> \
whose metadata (name, category, title, pitch, math, why_it_might_work, why_it_might_not, references, \
success_criterion) is the idea's. The hooks run only when the flag is on, so with the flag off the \
baseline must run unchanged: never change anything at import time. If the inputs carry an "error", your \
previous module failed with it: fix that cause and return the whole corrected module.

Rules (the module is checked statically and smoke-trained in a sandbox; any violation rejects it):
{guard.rules_text()}

Extension points:
{_extension_points()}

{MODEL_API}

An example of a complete, accepted module:
{EXAMPLE_MODULE}"""
    if task in ("review_paper", "review_abstract"):
        what = "the paper (markdown) in the inputs" if task == "review_paper" else "the abstract in the inputs"
        return f"""\
Review {what} as a strict, fair referee of an empirical ML paper. Report each problem as a finding:
  major: a claim the reported numbers do not support, a missing required element (sections Abstract,
      Introduction, Related Work, Method, Experimental Setup, Results, Discussion, Limitations, Conclusion,
      References; seed counts of at least 3 stated in Abstract, Results, Discussion and Conclusion; means with
      error bars; Cohen's d, Hedges' g, a confidence interval and a p-value; the baseline's run-to-run variance;
      per-seed tables; wall-clock time), a number that does not come from the records, an invented term;
  minor: wording, overclaiming words (prove, state-of-the-art, groundbreaking, "significant" without a
      p-value below 0.05), clarity.
Numbers appear as locked placeholders ⟦name⟧; their values, all rendered from the run records, are listed under "numbers" in the inputs. Judge a claim by those values.
Name the section of each finding and the concrete fix. An empty findings list means the text passes."""
    if task == "revise_paper":
        return """\
Revise the paper's sections to resolve the findings in the inputs. Return only the sections you change, \
as the new markdown body without its heading line, keyed by the section title exactly as given. Never \
invent numbers, results, references or terms: use only what the sections and the context contain; if a \
finding cannot be fixed from them, leave the text and say so in the changelog. One changelog line per \
change, naming the finding it resolves. You revise prose only: every number is a locked placeholder \
⟦name⟧ (values under "numbers" in the inputs); keep the placeholders you need exactly as written and never \
type a digit yourself. A revision that changes a number, adds an untraced one or breaks a hard check \
(seed counts, evidence level, claims about the runs) is refused and the draft stands. Paragraphs are \
separated by a blank line; `code` spans are allowed, other markdown is not."""
    raise ValueError(f"unknown task {task!r}")


def system_prompt(task: str, **params: Any) -> str:
    """The whole system message: `task: <name>`, the setting, the instructions, the reply shape."""
    return "\n\n".join([wire.task_line(task), SETTING, _task_text(task, **params),
                        REPLY_RULE.format(shape=wire.SHAPES[task])])


def render_inputs(inputs: Mapping[str, Any]) -> str:
    """The user message: one section per input; strings as text, the rest as sorted JSON."""
    parts = []
    for key, value in inputs.items():
        if value is None:
            continue
        body = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False,
                                                                default=str)
        parts.append(f"## {key}\n{body}")
    return "\n\n".join(parts) if parts else "(no inputs)"


RETRY_MESSAGE = ("Your reply could not be used: {error}. Reply again with the whole corrected JSON object, "
                 "exactly in the shape the system message gives, and nothing else.")


def request(task: str, inputs: Mapping[str, Any], **params: Any) -> list[dict]:
    """The conversation that asks one skill: the system message, then the inputs."""
    return [{"role": "system", "content": system_prompt(task, **params)},
            {"role": "user", "content": render_inputs(inputs)}]


def retry(messages: list[dict], raw: str | None, error: str) -> list[dict]:
    """The same conversation plus the unusable reply and what was wrong with it: models fix
    their own JSON well when told exactly which field to change."""
    return messages + [{"role": "assistant", "content": raw or ""},
                       {"role": "user", "content": RETRY_MESSAGE.format(error=error)}]
