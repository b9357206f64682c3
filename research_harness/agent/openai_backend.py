"""The `openai` agent backend: each skill is one chat completion against any
OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama, a LiteLLM proxy),
through the official `openai` package (`pip install 'research_harness[agent]'`).

Why it is built this way (docs/AGENT.md is the wire spec):
* one request per step, JSON-object replies, validated by `wire.parse_reply`; a reply of
  the wrong shape is sent back with the validation error, up to `malformed_retries` times,
  because models fix their own JSON well when told exactly what was wrong;
* HTTP errors and timeouts are retried by the openai client itself (`max_retries`,
  `timeout`), then become one-line `AgentUnavailable` errors that name the endpoint;
* every exchange is a transcript (transcripts.py); a request already answered is replayed
  from disk without contacting the endpoint, so a killed study resumes for free."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

import trainer.ideas

from research_harness.agent import wire
from research_harness.sandbox import guard
from research_harness.agent.protocol import AgentConfigError, AgentReplyError, AgentUnavailable
from research_harness.agent.transcripts import TranscriptStore, transcript_hash

__all__ = ["OpenAIAgent", "DEFAULT_BASE_URL", "system_prompt", "EXAMPLE_MODULE"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
INSTALL_HINT = "pip install 'research_harness[agent]'"

# -- what every model is told ---------------------------------------------------------------------
SETTING = """\
You are one step of an automated research workflow on small-LLM pretraining. The trainer is a \
compact GPT (token embedding tied to the LM head, pre-norm RMSNorm blocks, attention with RoPE, \
QK-norm and grouped-query heads, squared-ReLU MLP), trained with Muon for hidden matrices and AdamW \
for embeddings and gains, warmup then cosine decay, on a fixed token budget (about 1M tokens on CPU). \
Each idea is a small Python module behind a flag (--use_<name>); a study trains the baseline (flag off) \
and the idea (flag on) on the same seeds (42, 137, 256, then 512 and 1024 if suggestive) and compares \
final validation loss (lower is better) by Cohen's d, Hedges' g, a confidence interval and a one-sided \
Welch test. Judge honestly: a well-argued "this will not work" is worth more than enthusiasm."""

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
        return """\
Review the candidate ideas in the inputs. Score every candidate from 1 (worst) to 5 (best) on:
  feasibility: can it be built in fewer than 200 lines through the extension points, and trained at the budget?
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


def _one_line(text: Any, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class OpenAIAgent:
    """An `Agent` over the openai wire protocol. Configuration: arguments, else the
    environment (RESEARCH_LLM_BASE_URL, RESEARCH_LLM_MODEL, RESEARCH_LLM_API_KEY or
    OPENAI_API_KEY, RESEARCH_LLM_TIMEOUT, RESEARCH_LLM_MAX_RETRIES)."""

    backend = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 transcripts: TranscriptStore | str | os.PathLike, timeout: float | None = None,
                 max_retries: int | None = None, malformed_retries: int = 2, temperature: float | None = None,
                 env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.base_url = (base_url or env.get("RESEARCH_LLM_BASE_URL") or env.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or env.get("RESEARCH_LLM_MODEL")
        api_key = api_key or env.get("RESEARCH_LLM_API_KEY") or env.get("OPENAI_API_KEY")
        missing = ([] if self.model else ["RESEARCH_LLM_MODEL (the model name)"]) + \
                  ([] if api_key else ["RESEARCH_LLM_API_KEY or OPENAI_API_KEY (any non-empty value for a local "
                                       "server without auth)"])
        if missing:
            raise AgentConfigError("the openai agent backend is not configured: set " + " and ".join(missing)
                                   + f"; RESEARCH_LLM_BASE_URL picks the endpoint (now {self.base_url})")
        try:
            import openai
        except ImportError:
            raise AgentConfigError(f"the openai agent backend needs the openai package: {INSTALL_HINT}") from None
        self._openai = openai
        self.timeout = float(timeout if timeout is not None else env.get("RESEARCH_LLM_TIMEOUT", 60.0))
        self.max_retries = int(max_retries if max_retries is not None else env.get("RESEARCH_LLM_MAX_RETRIES", 2))
        self.malformed_retries = max(0, int(malformed_retries))
        self.temperature = temperature
        self.transcripts = transcripts if isinstance(transcripts, TranscriptStore) else TranscriptStore(transcripts)
        self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout,
                                     max_retries=self.max_retries)
        self.transcript_hashes: list[str] = []  # every transcript this agent used, in first-use order
        self.requests_sent = 0  # completions asked of the endpoint (replays excluded)
        self.replayed = 0  # exchanges answered from transcripts
        self.last_call: dict = {}  # task, hashes, attempts of the latest skill call (for the journal)
        self.last_dropped: list[str] = []  # proposals dropped by the latest propose (name already tried)

    def describe(self) -> str:
        return f"openai backend, model {self.model} at {self.base_url}"

    # -- the skills -------------------------------------------------------------------------------
    def propose(self, context: Mapping[str, Any], n: int = 3) -> list[dict]:
        tried = sorted(set(context.get("tried", ())))
        inputs = {"ideas wanted": n, "tried (never reuse these names)": tried or "none yet"}
        inputs.update({k: v for k, v in context.items() if k != "tried"})
        reply = self._ask("propose", system_prompt("propose", n=n), inputs, tried=tried, n=n)
        self.last_dropped = reply["dropped"]
        return reply["ideas"]

    def review(self, candidates: list[dict], context: Mapping[str, Any]) -> dict:
        names = [c["name"] for c in candidates]
        return self._ask("review", system_prompt("review"), {"candidates": candidates, **context}, candidates=names)

    def refine(self, idea: Mapping[str, Any], context: Mapping[str, Any]) -> dict:
        return self._ask("refine", system_prompt("refine"), {"idea": dict(idea), **context})

    def implement(self, idea: Mapping[str, Any], context: Mapping[str, Any], error: str | None = None) -> str:
        inputs = {"idea": dict(idea), **context, "error": error}
        return self._ask("implement", system_prompt("implement"), inputs)["module"]

    def review_paper(self, markdown: str, context: Mapping[str, Any]) -> list[dict]:
        return self._ask("review_paper", system_prompt("review_paper"), {"paper": markdown, **context})["findings"]

    def review_abstract(self, abstract: str, context: Mapping[str, Any]) -> list[dict]:
        return self._ask("review_abstract", system_prompt("review_abstract"),
                         {"abstract": abstract, **context})["findings"]

    def revise_paper(self, sections: Mapping[str, str], findings: list[dict], context: Mapping[str, Any]) -> dict:
        inputs = {"sections": dict(sections), "findings": findings, **context}
        return self._ask("revise_paper", system_prompt("revise_paper"), inputs)

    # -- one step: request (or replay), validate, retry on a malformed reply ------------------------
    def _ask(self, task: str, system: str, inputs: Mapping[str, Any], **expect: Any) -> dict:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": render_inputs(inputs)}]
        hashes: list[str] = []
        for attempt in range(1, self.malformed_retries + 2):
            record, replayed = self._exchange(task, messages)
            hashes.append(record["hash"])
            if record["hash"] not in self.transcript_hashes:
                self.transcript_hashes.append(record["hash"])
            raw = record["reply"]["raw"]
            try:
                parsed = wire.parse_reply(task, raw, **expect)
            except wire.ReplyShapeError as exc:
                error = str(exc)
                if not replayed:
                    self.transcripts.put(**self._stored(record, error=error))
                messages = messages + [{"role": "assistant", "content": raw or ""},
                                       {"role": "user", "content": RETRY_MESSAGE.format(error=error)}]
                continue
            if not replayed:
                self.transcripts.put(**self._stored(record, parsed=parsed))
            self.last_call = {"task": task, "hashes": hashes, "attempts": attempt}
            return parsed
        self.last_call = {"task": task, "hashes": hashes, "attempts": len(hashes), "error": error}
        raise AgentReplyError(f"{task}: model {self.model} at {self.base_url} gave no usable reply in {len(hashes)} "
                              f"attempts; last error: {_one_line(error, 300)} (transcripts {', '.join(hashes)})")

    def _stored(self, record: dict, **reply: Any) -> dict:
        return {"task": record["task"], "model": record["model"], "base_url": record["base_url"],
                "messages": record["messages"], "raw": record["reply"]["raw"],
                "finish_reason": record["reply"].get("finish_reason"), "usage": record["usage"],
                "latency_s": record["latency_s"], **reply}

    def _exchange(self, task: str, messages: list[dict]) -> tuple[dict, bool]:
        """The transcript of this exact request: from disk when stored, else from the endpoint
        (stored by the caller once validated, so the transcript records the verdict)."""
        stored = self.transcripts.get(task, self.model, messages)
        if stored is not None:
            self.replayed += 1
            return stored, True
        t0 = time.perf_counter()
        self.requests_sent += 1
        completion = self._complete(task, messages)
        latency = round(time.perf_counter() - t0, 4)
        choice = completion.choices[0] if completion.choices else None
        raw = choice.message.content if choice is not None else None
        if raw is None and choice is not None and getattr(choice.message, "refusal", None):
            raw = ""  # a refusal is a malformed reply: the model is asked again
        usage = completion.usage.model_dump(exclude_none=True) if completion.usage is not None else {}
        record = {"hash": transcript_hash(task, self.model, messages), "task": task, "model": self.model,
                  "base_url": self.base_url, "messages": messages,
                  "reply": {"raw": raw, "finish_reason": getattr(choice, "finish_reason", None)},
                  "usage": usage, "latency_s": latency}
        return record, False

    def _complete(self, task: str, messages: list[dict]):
        openai = self._openai
        extra = {} if self.temperature is None else {"temperature": self.temperature}
        attempts = self.max_retries + 1
        where = f"the LLM endpoint {self.base_url} (task {task}, model {self.model})"
        try:
            return self._client.chat.completions.create(model=self.model, messages=messages,
                                                        response_format={"type": "json_object"}, **extra)
        except openai.APITimeoutError:
            raise AgentUnavailable(f"{where} did not answer within {self.timeout:g} s in {attempts} attempts; check "
                                   "that the server is up and not overloaded, or raise RESEARCH_LLM_TIMEOUT") from None
        except openai.APIConnectionError as exc:
            raise AgentUnavailable(f"{where} could not be reached ({_one_line(exc)}) in {attempts} attempts; check "
                                   "that the server is running and RESEARCH_LLM_BASE_URL") from None
        except openai.APIStatusError as exc:
            code = exc.status_code
            hint = {401: "check RESEARCH_LLM_API_KEY (or OPENAI_API_KEY)", 403: "check RESEARCH_LLM_API_KEY's rights",
                    404: "check RESEARCH_LLM_MODEL and that RESEARCH_LLM_BASE_URL ends in /v1",
                    400: "check that the server supports response_format json_object and the model name"
                    }.get(code, "check the server's logs" if code >= 500 else "check the request the server refused")
            tries = f" after {attempts} attempts" if code >= 500 or code in (408, 409, 429) else ""
            body = exc.body if isinstance(exc.body, dict) else {}
            inner = body.get("error")
            said = body.get("message") or (inner.get("message") if isinstance(inner, dict) else inner) or exc.message
            raise AgentUnavailable(f"{where} answered HTTP {code}{tries}: {_one_line(said)}; {hint}") from None
