"""Draft the paper's markdown from the analysis; every number goes through the registry.

Each section has its own builder so that the revision step can rebuild or insert
exactly the piece a reviewer found missing, with the same wording and the same numbers.
"""

from __future__ import annotations

import math
import re
from datetime import date

from research_harness import gates, stats
from research_harness.paper.analysis import Analysis, magnitude
from research_harness.paper.model import MIN_SEEDS, RESEARCH_TOKENS
from research_harness.paper.numbers import NumberRegistry, record_ref

__all__ = ["Writer", "draft_markdown", "BASE_REFERENCES", "SECTION_ORDER", "SCALE_LABEL"]

SCALE_LABEL = "not the research scale"

SECTION_ORDER = ["Abstract", "Introduction", "Related Work", "Method", "Experimental Setup", "Results",
                 "Discussion", "Limitations", "Conclusion", "References",
                 "Appendix A. Revision changelog", "Appendix B. Provenance"]

# Works the baseline and the statistics rest on (facts about trainer/ and stats.py).
BASE_REFERENCES = {
    "gpt2": "Radford, A. et al. (2019). Language Models are Unsupervised Multitask Learners.",
    "rmsnorm": "Zhang, B. and Sennrich, R. (2019). Root Mean Square Layer Normalization.",
    "rope": "Su, J. et al. (2021). RoFormer: Enhanced Transformer with Rotary Position Embedding.",
    "qknorm": "Henry, A. et al. (2020). Query-Key Normalization for Transformers.",
    "gqa": "Ainslie, J. et al. (2023). GQA: Training Generalized Multi-Query Transformer Models from "
           "Multi-Head Checkpoints.",
    "primer": "So, D. R. et al. (2021). Primer: Searching for Efficient Transformers for Language Modeling.",
    "muon": "Jordan, K. et al. (2024). Muon: An optimizer for hidden layers in neural networks.",
    "adamw": "Loshchilov, I. and Hutter, F. (2019). Decoupled Weight Decay Regularization.",
    "cohen": "Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences.",
    "hedges": "Hedges, L. V. (1981). Distribution Theory for Glass's Estimator of Effect Size and Related "
              "Estimators.",
    "welch": "Welch, B. L. (1947). The Generalization of Student's Problem when Several Different Population "
             "Variances are Involved.",
    "rliable": "Agarwal, R. et al. (2021). Deep Reinforcement Learning at the Edge of the Statistical Precipice.",
}


def _md_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else (":---:" if a == "c" else "---") for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _author_year(ref: str) -> str:
    """'Zhou et al. (2024). Title.' -> 'Zhou et al. (2024)'; otherwise the text before the first '. '."""
    m = re.match(r"^(.*?\(\d{4}[a-z]?\))", ref.strip())
    if m:
        return m.group(1).strip()
    return ref.split(". ")[0].strip()


def _ref_title(ref: str) -> str:
    m = re.match(r"^.*?\(\d{4}[a-z]?\)\.?\s*(.*)$", ref.strip())
    title = m.group(1) if m else ref
    return title.strip().rstrip(".")


def _a(word: str) -> str:
    """'attention' -> 'an attention', 'optimizer' -> 'an optimizer', 'training-dynamics' -> 'a training-dynamics'."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _inner(text: str) -> str:
    """A sentence quoted mid-sentence: 'Deep layers ...' -> 'deep layers ...' (acronyms kept)."""
    text = _sentence(text)
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _sentence(text: str) -> str:
    text = (text or "").strip()
    if text and text[-1] not in ".!?":
        text += "."
    return text


class Writer:
    """Renders the sections of the paper for one analysis, through one registry."""

    def __init__(self, analysis: Analysis, registry: NumberRegistry, figures: dict[str, str] | None = None):
        self.a = analysis
        self.reg = registry
        self.figures = figures or {}
        self.idea = analysis.idea
        self.refs = list(self.idea.get("references") or []) + list(BASE_REFERENCES.values())
        self._cite = {key: len(self.idea.get("references") or []) + i + 1 for i, key in enumerate(BASE_REFERENCES)}

    # -- numbers ------------------------------------------------------------------------------
    def cite(self, *keys: str) -> str:
        return "[" + ", ".join(str(self._cite[k]) for k in keys) + "]"

    def n(self) -> str:
        a = self.a
        return self.reg.stat("n.per_arm", a.n, "int", statistic="count of runs per arm",
                             records=a.arms, field="seed", arm="control+experimental")

    def n_base(self) -> str:
        a = self.a
        return self.reg.stat("n.baseline", len(a.baseline), "int", statistic="count of runs",
                             records=a.baseline, field="seed", arm="baseline")

    def seed(self, s: int) -> str:
        recs = [r for r in self.a.all_records if r["seed"] == s]
        return self.reg.stat(f"seed.{s}", s, "raw", statistic="seed of these runs", records=recs, field="seed")

    def seeds(self, records: list[dict]) -> str:
        return ", ".join(self.seed(r["seed"]) for r in records)

    def const(self, name: str) -> str:
        table = {
            "proceed": (gates.PROCEED_AT, "lr", "research_harness.gates.PROCEED_AT"),
            "noise": (gates.NOISE_BELOW, "lr", "research_harness.gates.NOISE_BELOW"),
            "loser": (gates.LOSER_AT, "lr", "research_harness.gates.LOSER_AT"),
            "alpha": (0.05, "lr", "one-sided alpha of the Welch test and of the power analysis"),
            "ci": (95, "int", "confidence level of the intervals (percent)"),
            "power": (80, "int", "power of the seed-count analysis (percent)"),
            "min_seeds": (MIN_SEEDS, "int", "research_harness.paper.model.MIN_SEEDS"),
            "research_tokens": (RESEARCH_TOKENS, "tokens", "the workflow's research token budget"),
            "sigma_k": (1, "int", "baseline band of the per-seed figure (sigmas)"),
        }
        value, fmt, source = table[name]
        return self.reg.const(f"const.{name}", value, fmt, source=source)

    def loss_stat(self, arm: str, what: str) -> str:
        recs = {"control": self.a.control, "experimental": self.a.experimental, "baseline": self.a.baseline}[arm]
        s = stats.summarize([r["val_loss"] for r in recs])
        fmt = "std" if what == "std" else "loss"
        return self.reg.stat(f"{arm}.val_loss.{what}", getattr(s, what), fmt,
                             statistic=f"research_harness.stats.summarize(val_loss).{what}", records=recs, arm=arm)

    def ms(self, arm: str) -> str:
        return f"{self.loss_stat(arm, 'mean')} ± {self.loss_stat(arm, 'std')}"

    def field_stat(self, arm: str, path: str, what: str, fmt: str) -> str:
        recs = {"control": self.a.control, "experimental": self.a.experimental, "baseline": self.a.baseline}[arm]
        vals = []
        for r in recs:
            cur = r
            for part in path.split("."):
                cur = cur.get(part, math.nan) if isinstance(cur, dict) else math.nan
            vals.append(float(cur) if cur is not None else math.nan)
        if not all(math.isfinite(v) for v in vals):
            return "n/a"
        s = stats.summarize(vals)
        value = getattr(s, what)
        return self.reg.stat(f"{arm}.{path}.{what}", value, fmt,
                             statistic=f"research_harness.stats.summarize({path}).{what}", records=recs, field=path,
                             arm=arm)

    def wall_ms(self, arm: str, path: str = "wall_time.total_s") -> str:
        mean = self.field_stat(arm, path, "mean", "sec")
        std = self.field_stat(arm, path, "std", "sec")
        return f"{mean} ± {std}" if mean != "n/a" else "n/a"

    def p_equals(self) -> str:
        """'p = 0.012' or 'p < 0.001' (the formatter renders tiny p-values as '< 0.001')."""
        text = self.cmp("p_one_sided")
        return f"p {text}" if text.startswith("<") else f"p = {text}"

    def cmp(self, name: str) -> str:
        a, c = self.a, self.a.cmp
        fmts = {"delta": "loss", "cohens_d": "d", "hedges_g": "d", "welch_t": "d", "welch_df": "sec",
                "p_one_sided": "p", "seeds_for_power": "int", "delta_in_baseline_sigmas": "sigma",
                "prob_improvement": "d", "baseline_std": "std"}
        if name in ("d_ci.lo", "d_ci.hi", "g_ci.lo", "g_ci.hi"):
            attr, end = name.split(".")
            value = getattr(c, attr)[0 if end == "lo" else 1]
            fmt = "d"
        else:
            value, fmt = getattr(c, name), fmts[name]
        records = [*a.control, *a.experimental]
        extra = {}
        if name in ("delta_in_baseline_sigmas", "baseline_std"):
            records = [*records, *a.baseline]
            extra["baseline_run_keys"] = [record_ref(r) for r in a.baseline]
        if name == "seeds_for_power" and value is None:
            return self.reg.stat(f"cmp.{name}", None, "int", statistic="research_harness.stats.compare_arms."
                                 + name + " (None: d <= 0, no seed count detects a non-improvement)",
                                 records=records, arm="control vs experimental")
        return self.reg.stat(f"cmp.{name}", value, fmt, statistic=f"research_harness.stats.compare_arms(control, "
                             f"experimental, baseline).{name}", records=records, arm="control vs experimental",
                             **extra)

    def ci(self, which: str) -> str:
        return f"[{self.cmp(which + '_ci.lo')}, {self.cmp(which + '_ci.hi')}]"

    def params(self, arm: str = "control", exact: bool = False) -> str:
        recs = self.a.experimental if arm == "experimental" else [*self.a.baseline, *self.a.control]
        return self.reg.shared(f"params.{arm}.total{'.exact' if exact else ''}", recs, "params.total",
                               "int" if exact else "params", arm=arm if arm == "experimental" else "baseline+control")

    def tokens(self) -> str:
        return self.reg.shared("budget.tokens", self.a.all_records, "config.train.train_tokens", "tokens")

    def cfg(self, path: str, fmt: str = "lr") -> str:
        return self.reg.shared(f"config.{path}", [*self.a.baseline, *self.a.control], path, fmt,
                               arm="baseline+control")

    def rec(self, record: dict, arm: str, path: str, fmt: str) -> str:
        return self.reg.record(f"{arm}.seed{record['seed']}.{path}", record, path, fmt, arm=arm)

    def flag(self) -> str:
        return self.idea.get("flag") or f"--use_{self.idea['name']}"

    def short_title(self) -> str:
        t = str(self.idea.get("title") or self.idea["name"]).strip()
        return t.split(":")[0].strip() or t

    def short_title_inline(self) -> str:
        """The short title for use mid-sentence: 'Value residual learning' -> 'value residual learning'
        (a leading acronym or proper name such as 'Muon' or 'QK-norm' is kept as it is)."""
        t = self.short_title()
        first = t.split(" ")[0]
        if len(t.split(" ")) > 1 and first[:1].isupper() and first[1:].islower():
            return t[0].lower() + t[1:]
        return t

    def wall_pct(self, path: str = "wall_time.total_s") -> str:
        """Relative change of the mean of ``path`` (experimental vs control), in percent."""
        a = self.a
        try:
            c = stats.summarize([float(r["wall_time"][path.split(".")[-1]]) for r in a.control]).mean
            e = stats.summarize([float(r["wall_time"][path.split(".")[-1]]) for r in a.experimental]).mean
        except (KeyError, TypeError, ValueError):
            return "n/a"
        value = 100.0 * (e - c) / c if c > 0 else math.nan
        return self.reg.stat(f"wall.delta_pct.{path}", value, "pct", statistic=f"100 * (mean experimental {path} - "
                             f"mean control {path}) / mean control {path}", records=a.arms, field=path,
                             arm="control vs experimental")

    def device_phrase(self) -> str:
        types = self.a.device_types
        return "/".join(t.upper() if t in ("cpu", "cuda", "mps") else t for t in types)

    def preset(self) -> str:
        presets = sorted({str(r.get("preset") or r["config"].get("preset")) for r in self.a.all_records})
        return "/".join(presets)

    # -- pieces -------------------------------------------------------------------------------
    def scale_phrase(self) -> str:
        return f"{self.params()} parameters and {self.tokens()} training tokens per run"

    def not_research_scale_sentence(self) -> str:
        return (f"This is {SCALE_LABEL}: every run used {self.tokens()} training tokens instead of the "
                f"workflow's {self.const('research_tokens')}, so the numbers are a functional check of the "
                "pipeline, not a research result.")

    def delta_phrase(self) -> str:
        """'an improvement of 0.0122 nats', or for a loss that went up 'a difference (control - experimental)
        of -0.0007 nats, i.e. no improvement'."""
        if self.a.cmp.delta > 0:
            return f"an improvement of {self.cmp('delta')} nats"
        return f"a difference (control − experimental) of {self.cmp('delta')} nats, i.e. no improvement"

    def decision_words(self) -> str:
        a = self.a
        d = a.cmp.cohens_d
        if a.decision is gates.Decision.PROCEED:
            return f"clears the workflow's proceed threshold (d ≥ {self.const('proceed')})"
        if a.decision is gates.Decision.SUGGESTIVE:
            return (f"falls in the workflow's suggestive band ({self.const('noise')} ≤ d < {self.const('proceed')})")
        if a.verdict == "LOSER":
            return f"points the wrong way (d ≤ {self.const('loser')}: the intervention raised the loss)"
        return f"is below the workflow's noise threshold (d < {self.const('noise')})"

    def category_sentence(self) -> str:
        """One sentence whose strength follows the effect-size category and the interval."""
        a = self.a
        mag = magnitude(a.cmp.cohens_d)
        if a.decision is gates.Decision.PROCEED:
            if a.ci_excludes_zero:
                return (f"The effect is {mag} by Cohen's convention, {self.decision_words()}, and its "
                        f"{self.const('ci')}% interval excludes zero, at this small scale.")
            return (f"The point estimate {self.decision_words()}, but its {self.const('ci')}% interval includes "
                    "zero, so the evidence is preliminary.")
        if a.decision is gates.Decision.SUGGESTIVE:
            return f"The effect {self.decision_words()}: suggestive, not established, at this number of seeds."
        if a.verdict == "LOSER":
            return f"The effect {self.decision_words()}."
        return f"The difference {self.decision_words()} and is indistinguishable from run-to-run noise."

    # -- sections -----------------------------------------------------------------------------
    def title(self) -> str:
        t = (f"{self.short_title()} in a {self.params()}-parameter GPT: a controlled {self.n()}-seed comparison at "
             f"{self.tokens()} training tokens")
        return t + (f" ({SCALE_LABEL})" if not self.a.inputs.research_scale else "")

    def scale_note(self) -> str:
        if self.a.inputs.research_scale:
            return ""
        return f"> **Not the research scale.** {self.not_research_scale_sentence()}"

    def abstract(self) -> str:
        a = self.a
        parts = [
            "Changes to language-model pretraining are often judged on a single training run, although the "
            "run-to-run noise of a small model can be as large as the effect being claimed.",
            f"We test {self.short_title_inline()} "
            f"(`{self.flag()}`, {_a(self.idea.get('category', 'training'))} intervention) in a GPT-style decoder with "
            f"{self.scale_phrase()}, comparing a control arm and an experimental arm on N = {self.n()} seeds "
            f"each ({self.seeds(a.control)}), with N = {self.n_base()} baseline seeds measuring the run-to-run noise "
            f"(val_loss std {self.loss_stat('baseline', 'std')}).",
            f"The experimental arm reaches a final validation loss of {self.ms('experimental')} (mean ± std, "
            f"N = {self.n()}) against {self.ms('control')} for the control, {self.delta_phrase()} "
            f"({self.cmp('delta_in_baseline_sigmas')} baseline σ).",
            f"Cohen's d = {self.cmp('cohens_d')}, Hedges' g = {self.cmp('hedges_g')} ({self.const('ci')}% CI "
            f"{self.ci('g')}), one-sided Welch {self.p_equals()}.",
            self.category_sentence(),
            f"All results are at a single small scale ({self.params()} parameters, {self.tokens()} training tokens, "
            f"{self.preset()} preset on {self.device_phrase()}).",
        ]
        if not a.inputs.research_scale:
            parts.append(self.not_research_scale_sentence())
        return " ".join(parts)

    def introduction(self) -> str:
        a = self.a
        idea = self.idea
        p1 = ("Small pretraining interventions (an optimizer tweak, an attention change, a schedule) are usually "
              "reported from one training run per configuration. At small scale the difference between two seeds "
              "of the same code can be as large as the claimed gain, so a single-run comparison cannot separate "
              "an effect from noise. We therefore judge an idea against the measured run-to-run variance of the "
              f"baseline: {self.n_base()} baseline seeds at a fixed budget of {self.tokens()} training tokens, then "
              f"{self.n()} seeds for each arm of a controlled comparison, decided by Cohen's d of the improvement "
              f"{self.cite('cohen')} (below {self.const('noise')}: noise; from {self.const('noise')} to "
              f"{self.const('proceed')}: add seeds; from {self.const('proceed')}: write it up).")
        p2 = (f"The idea tested here is **{_sentence(idea.get('title', idea['name'])).rstrip('.')}**. "
              f"{_sentence(idea.get('pitch', ''))}")
        bullets = [
            f"- A controlled comparison of `{self.flag()}` against the unchanged baseline code path on "
            f"N = {self.n()} seeds per arm, with every run's per-seed result reported.",
            "- Effect sizes with intervals (Cohen's d, Hedges' g with an exact small-sample correction "
            f"{self.cite('hedges')}), a one-sided Welch test {self.cite('welch')}, the probability of improvement "
            f"{self.cite('rliable')}, and the number of seeds needed for {self.const('power')}% power.",
            "- A wall-clock comparison of the two arms on the same hardware.",
            "- A paper rendered from the stored run records: every number carries its provenance, and the "
            "review checks in the appendix ran as code.",
        ]
        return "\n\n".join([p1, p2, "Contributions:", "\n".join(bullets)])

    def related_work(self) -> str:
        idea_refs = list(self.idea.get("references") or [])
        if idea_refs:
            items = "; ".join(f"{_author_year(r)} [{i + 1}], *{_ref_title(r)}*" for i, r in enumerate(idea_refs))
            p1 = f"**The intervention.** The idea comes from prior work: {items}."
        else:
            p1 = ("**The intervention.** The idea's metadata lists no references; it is treated as a new "
                  "intervention and judged only by the experiment below.")
        p2 = ("**Baseline.** The baseline is a GPT-style decoder " + self.cite("gpt2") + " with RMSNorm "
              + self.cite("rmsnorm") + ", rotary position embeddings " + self.cite("rope") + ", QK-norm "
              + self.cite("qknorm") + ", grouped-query attention " + self.cite("gqa") + ", a squared-ReLU MLP "
              + self.cite("primer") + " and tied embeddings, trained with Muon " + self.cite("muon")
              + " for the hidden matrices and AdamW " + self.cite("adamw") + " for the rest.")
        p3 = ("**Methodology.** Effect sizes follow Cohen " + self.cite("cohen") + " and Hedges "
              + self.cite("hedges") + "; the test is Welch's unequal-variance t-test " + self.cite("welch")
              + "; reporting intervals and the probability of improvement over several seeds instead of single "
              "runs follows Agarwal et al. " + self.cite("rliable") + ".")
        return "\n\n".join([p1, p2, p3])

    def method(self) -> str:
        idea = self.idea
        lines = [f"The experimental arm enables `{self.flag()}` ({idea.get('category', 'training')} category). "
                 f"{_sentence(idea.get('pitch', ''))}"]
        math_src = str(idea.get("math") or "").strip()
        if math_src:
            lines.append("$$\n" + math_src + "\n$$")
        hooks = idea.get("hooks") or []
        impl = ("With the flag off the trainer calls none of the idea's hooks, so the control arm runs the "
                "baseline code path unchanged.")
        if hooks:
            impl += " The intervention acts through the trainer's extension points " + ", ".join(
                f"`{h}`" for h in hooks)
            if idea.get("implementation_lines"):
                impl += (" in " + self.reg.const("idea.implementation_lines", int(idea["implementation_lines"]),
                                                 "int", source="idea metadata: implementation_lines")
                         + " lines of code")
            impl += "."
        lines.append(impl)
        if idea.get("why_it_might_work"):
            lines.append(f"**Hypothesis.** {_sentence(idea['why_it_might_work'])}")
        if idea.get("success_criterion"):
            lines.append(f"**Success criterion, fixed before the experiment.** {_sentence(idea['success_criterion'])}")
        return "\n\n".join(lines)

    def setup(self) -> str:
        a = self.a
        r0 = a.control[0]
        m = r0["config"].get("model", {})
        t = r0["config"].get("train", {})
        items = []
        model = f"- **Model:** {self.preset()} preset; a GPT-style decoder"
        if m:
            model += (f" with {self.cfg('config.model.n_layers', 'int')} layers, d_model "
                      f"{self.cfg('config.model.d_model', 'int')}, {self.cfg('config.model.n_heads', 'int')} query "
                      f"and {self.cfg('config.model.n_kv_heads', 'int')} key-value heads, d_ff "
                      f"{self.cfg('config.model.d_ff', 'int')}, context length "
                      f"{self.cfg('config.model.seq_len', 'int')}")
        model += f"; {self.params(exact=True)} parameters"
        if "non_embedding" in r0["params"]:
            ne = self.reg.shared("params.control.non_embedding", [*a.baseline, *a.control], "params.non_embedding",
                                 "int", arm="baseline+control")
            model += f" ({ne} non-embedding)"
        model += "."
        if a.params_differ:
            model += (f" The intervention adds parameters: the experimental model has "
                      f"{self.params('experimental', exact=True)}.")
        items.append(model)
        data = r0.get("data", {})
        if data:
            items.append(
                f"- **Data:** {data.get('source', 'unknown source')}; "
                f"{self.cfg('data.train_tokens', 'int')} training and {self.cfg('data.val_tokens', 'int')} validation "
                "tokens, split by document. Tokenizer: byte-level BPE trained on the training split, vocabulary "
                f"{self.cfg('data.vocab_size', 'int')}.")
        if t:
            items.append(
                f"- **Training:** {self.tokens()} tokens per run, batch size "
                f"{self.cfg('config.train.batch_size', 'int')} "
                f"sequences; Muon (learning rate {self.cfg('config.train.muon_lr')}, momentum "
                f"{self.cfg('config.train.muon_momentum')}) for hidden matrices and AdamW (learning rate "
                f"{self.cfg('config.train.adamw_lr')}, weight decay {self.cfg('config.train.weight_decay')}) for the "
                f"rest; warm-up over {self.cfg('config.train.warmup_frac')} of the budget, decay to "
                f"{self.cfg('config.train.final_lr_frac')} of the peak learning rate, gradient clipping at "
                f"{self.cfg('config.train.grad_clip')}.")
        changes = _config_changes(a.control[0]["config"], a.experimental[0]["config"])
        if changes:
            items.append("- **Configuration changed by the intervention:** " + "; ".join(
                f"`{k}` "
                f"{self.reg.record('exp.config.' + k, a.experimental[0], 'config.' + k, 'raw', arm='experimental')}"
                f" (control {self.reg.record('ctrl.config.' + k, a.control[0], 'config.' + k, 'raw', arm='control')})"
                for k in changes) + ".")
        ev = r0.get("eval") or {}
        if ev.get("tokens_per_eval"):
            items.append(
                f"- **Evaluation:** validation loss is the mean next-token cross-entropy (nats) on "
                f"{self.cfg('eval.tokens_per_eval', 'int')} held-out tokens, evaluated "
                f"{self.cfg('eval.evals', 'int')} times per run; the last evaluation is the reported val_loss.")
        else:
            items.append("- **Evaluation:** validation loss is the mean next-token cross-entropy (nats) on held-out "
                         "validation documents; the last evaluation of a run is the reported val_loss.")
        items.append(
            f"- **Seeds:** {self.seeds(a.control)} for both arms (N = {self.n()} per arm) and "
            f"{self.seeds(a.baseline)} for the baseline (N = {self.n_base()}); the seed sets both the model "
            "initialisation and the data order.")
        dev = r0.get("device", {})
        hw = f"- **Hardware:** {self.device_phrase()} ({'; '.join(a.device_names)})"
        if dev.get("torch"):
            hw += f", PyTorch {dev['torch']}"
        compiled = {bool(r.get("compiled")) for r in a.all_records}
        hw += "; torch.compile " + ("on" if compiled == {True} else "off" if compiled == {False} else "mixed")
        hw += "; runs were sequential, one at a time."
        items.append(hw)
        fps = sorted({str(r.get("code_fingerprint", ""))[:12] for r in a.arms if r.get("code_fingerprint")})
        if fps:
            items.append("- **Code:** fingerprint " + ", ".join(f"`{f}`" for f in fps)
                         + (" (one code version for both arms)." if len(fps) == 1 else "."))
        return "\n".join(items)

    # -- results ------------------------------------------------------------------------------
    def results_intro(self) -> str:
        a = self.a
        text = (f"The control arm runs the baseline code with the flag off; the experimental arm enables "
                f"`{self.flag()}` ({self.short_title()}). Both arms ran N = {self.n()} seeds "
                f"({self.seeds(a.control)}), and N = {self.n_base()} baseline seeds measured the run-to-run noise; "
                f"every run trained a model with {self.params()} parameters ({self.preset()} preset, "
                f"{self.device_phrase()}) on {self.tokens()} training tokens. Lower validation loss is better; "
                "the improvement is control minus experimental, so a positive value favours the intervention.")
        if not a.inputs.research_scale:
            text += " " + self.not_research_scale_sentence()
        return text

    def results_baseline(self) -> str:
        a = self.a
        rows = [["val_loss", self.loss_stat("baseline", "mean"), self.loss_stat("baseline", "std"),
                 self.loss_stat("baseline", "min"), self.loss_stat("baseline", "max")],
                ["wall_time (s)"] + [self.field_stat("baseline", "wall_time.total_s", w, "sec")
                                     for w in ("mean", "std", "min", "max")]]
        per_seed = [[self.seed(r["seed"]), self.rec(r, "baseline", "val_loss", "loss"),
                     self.rec(r, "baseline", "wall_time.total_s", "sec")] for r in a.baseline]
        return "\n\n".join([
            "### Baseline variance",
            f"Table: Baseline run-to-run variance (N = {self.n_base()} seeds, {self.tokens()} tokens each).",
            _md_table(["Metric", "Mean", "Std", "Min", "Max"], rows),
            f"Seeds used: {self.seeds(a.baseline)}.",
            "Table: Baseline runs, per seed.",
            _md_table(["Seed", "val_loss", "wall_time (s)"], per_seed),
        ])

    def results_per_seed(self) -> str:
        a = self.a
        exp_by_seed = {r["seed"]: r for r in a.experimental}
        rows = []
        for c in a.control:
            e = exp_by_seed[c["seed"]]
            diff = float(c["val_loss"]) - float(e["val_loss"])
            d_txt = self.reg.stat(f"diff.seed{c['seed']}", diff, "loss", statistic="control val_loss - "
                                  "experimental val_loss (same seed)", records=[c, e], arm="control vs experimental")
            rows.append([self.seed(c["seed"]), self.rec(c, "control", "val_loss", "loss"),
                         self.rec(e, "experimental", "val_loss", "loss"), d_txt,
                         self.rec(c, "control", "wall_time.total_s", "sec"),
                         self.rec(e, "experimental", "wall_time.total_s", "sec")])
        rows.append([f"Mean ± std (N = {self.n()})", self.ms("control"), self.ms("experimental"), self.cmp("delta"),
                     self.wall_ms("control"), self.wall_ms("experimental")])
        wins = sum(1 for c in a.control if float(c["val_loss"]) > float(exp_by_seed[c["seed"]]["val_loss"]))
        wins_t = self.reg.stat("per_seed.wins", wins, "int", statistic="count of seeds where experimental "
                               "val_loss < control val_loss", records=a.arms, arm="control vs experimental")
        return "\n\n".join([
            "### Per-seed results",
            f"Table: Final validation loss and wall-clock time per seed (N = {self.n()} seeds per arm). "
            "Improvement = control − experimental.",
            _md_table(["Seed", "Control val_loss", "Experimental val_loss", "Improvement", "Control time (s)",
                       "Experimental time (s)"], rows),
            f"The experimental arm has the lower loss on {wins_t} of {self.n()} seeds. The control arm's mean is "
            f"{self.ms('control')} and the experimental arm's {self.ms('experimental')} (mean ± std over N = "
            f"{self.n()} seeds).",
        ] + self._figure("final", f"Final validation loss per seed for both arms (N = {self.n()} seeds per "
                         f"arm); the band is the baseline mean ± {self.const('sigma_k')} σ over N = "
                         f"{self.n_base()} baseline seeds."))

    def results_effects(self) -> str:
        a = self.a
        c = a.cmp
        rows = [
            [f"Mean val_loss, control (N = {self.n()})", self.ms("control")],
            [f"Mean val_loss, experimental (N = {self.n()})", self.ms("experimental")],
            ["Improvement Δ = control − experimental (nats)", self.cmp("delta")],
            [f"Δ in baseline σ (σ = {self.cmp('baseline_std')}, N = {self.n_base()})",
             self.cmp("delta_in_baseline_sigmas")],
            ["Cohen's d (pooled sd; the gate's statistic)", self.cmp("cohens_d")],
            [f"{self.const('ci')}% CI for d (noncentral t)", self.ci("d")],
            ["Hedges' g (exact small-sample correction)", self.cmp("hedges_g")],
            [f"{self.const('ci')}% CI for g", self.ci("g")],
            ["Welch t (degrees of freedom)", f"{self.cmp('welch_t')} ({self.cmp('welch_df')})"],
            ["One-sided Welch p (H1: experimental lower)", self.cmp("p_one_sided")],
            ["Probability of improvement", self.cmp("prob_improvement")],
            [f"Seeds per arm for {self.const('power')}% power (one-sided α = {self.const('alpha')})",
             self.cmp("seeds_for_power") if c.seeds_for_power is not None else "none (d ≤ 0)"],
            ["Gate decision", f"{a.decision.value} ({a.verdict})"],
        ]
        text = [
            "### Effect sizes",
            f"Table: Effect of the intervention on final validation loss (N = {self.n()} seeds per arm).",
            _md_table(["Statistic", "Value"], rows, "lr"),
            (f"The gate uses Cohen's d of the improvement: below {self.const('noise')} the idea is noise, from "
             f"{self.const('noise')} to {self.const('proceed')} more seeds are run, and from "
             f"{self.const('proceed')} the study proceeds to a paper. Here d = {self.cmp('cohens_d')}, so the "
             f"decision is **{a.decision.value}**. Hedges' g = {self.cmp('hedges_g')} with a {self.const('ci')}% CI "
             f"of {self.ci('g')}, which {'excludes' if a.ci_excludes_zero else 'includes'} zero; the one-sided "
             f"Welch p is {self.cmp('p_one_sided')}."),
        ]
        looks = self.looks()
        if looks:
            text.append("The gate looked at the data more than once: " + "; ".join(looks) + ". "
                        "The statistics above use all seeds, after the last look.")
        return "\n\n".join(text)

    def looks(self) -> list[str]:
        """The gate's looks from the decision history, with d recomputed from the records."""
        a = self.a
        out = []
        for i, look in enumerate(a.inputs.decision_history or []):
            seeds = look.get("seeds") or []
            ctrl = [r for r in a.control if r["seed"] in seeds]
            exp = [r for r in a.experimental if r["seed"] in seeds]
            if len(ctrl) < 2 or len(exp) < 2:
                continue
            d = stats.cohens_d([r["val_loss"] for r in ctrl], [r["val_loss"] for r in exp])
            d_t = self.reg.stat(f"look{i + 1}.cohens_d", d, "d", statistic="research_harness.stats.cohens_d at "
                                f"look {i + 1}", records=[*ctrl, *exp], arm="control vs experimental")
            n_t = self.reg.stat(f"look{i + 1}.n", len(ctrl), "int", statistic=f"seeds per arm at look {i + 1}",
                                records=[*ctrl, *exp], field="seed")
            out.append(f"look {self.reg.const(f'look{i + 1}.index', i + 1, 'int', source='order of the gate looks')}"
                       f" at N = {n_t} seeds per arm gave d = {d_t} ({gates.decide(d).value})")
        return out

    def results_wall(self) -> str:
        a = self.a
        rows = []
        for arm, recs in (("Baseline", a.baseline), ("Control", a.control), ("Experimental", a.experimental)):
            key = arm.lower()
            n_t = self.n_base() if key == "baseline" else self.n()
            rows.append([arm, n_t, self.wall_ms(key), self.wall_ms(key, "wall_time.train_s"),
                         self.wall_ms(key, "wall_time.eval_s"), self.field_stat(key, "tokens_per_s", "mean", "int")])
        same_device = len(a.device_names) == 1
        train = "wall_time.train_s"
        text = (f"Mean wall-clock time per run is {self.wall_ms('experimental')} s for the experimental arm and "
                f"{self.wall_ms('control')} s for the control (mean ± std, N = {self.n()} seeds), a change of "
                f"{self.wall_pct()}%. Training time alone, without setup, compilation and evaluation, is "
                f"{self.wall_ms('experimental', train)} s against {self.wall_ms('control', train)} s, a change of "
                f"{self.wall_pct(train)}%; the total of the first run in a process also carries one-time setup "
                "(data loading, compilation). ")
        text += ("All runs ran sequentially on the same device, so the times are comparable."
                 if same_device else "The runs used different devices, so the times are not directly comparable.")
        return "\n\n".join([
            "### Wall-clock",
            f"Table: Wall-clock time per run in seconds (mean ± std) and training throughput.",
            _md_table(["Arm", "N", "Total (s)", "Training (s)", "Evaluation (s)", "Tokens/s"], rows),
            text,
        ] + self._figure("curves", f"Validation loss during training for each seed of both arms (N = {self.n()} "
                         "seeds per arm)."))

    def _figure(self, key: str, caption: str) -> list[str]:
        path = self.figures.get(key)
        return [f"![{caption}]({path})"] if path else []

    def results(self) -> str:
        return "\n\n".join([self.results_intro(), self.results_baseline(), self.results_per_seed(),
                            self.results_effects(), self.results_wall()])

    # -- discussion and after -----------------------------------------------------------------
    def discussion(self) -> str:
        a = self.a
        c = a.cmp
        paras = []
        head = (f"With N = {self.n()} seeds per arm, the improvement in mean validation loss (control − "
                f"experimental) is {self.cmp('delta')} nats, or {self.cmp('delta_in_baseline_sigmas')} baseline σ "
                f"(Cohen's d = {self.cmp('cohens_d')}). ")
        if a.decision is gates.Decision.PROCEED:
            head += (f"By the workflow's gate the idea proceeds: the effect is {magnitude(c.cohens_d)} by Cohen's "
                     "convention. ")
            if a.ci_excludes_zero:
                head += (f"The {self.const('ci')}% interval for Hedges' g, {self.ci('g')}, excludes zero, but it "
                         "is wide: the size of the effect is poorly determined by this many seeds.")
            else:
                head += (f"The {self.const('ci')}% interval for Hedges' g, {self.ci('g')}, still includes zero, so "
                         "the data are also consistent with no effect; we read the result as preliminary.")
        elif a.decision is gates.Decision.SUGGESTIVE:
            head += ("The effect is in the suggestive band: too large to dismiss as noise by the gate's rule, too "
                     f"small to establish at this number of seeds ({self.const('ci')}% CI for Hedges' g "
                     f"{self.ci('g')}).")
        elif a.verdict == "LOSER":
            head += ("The intervention raised the loss at this scale; the data give no support for it "
                     f"({self.const('ci')}% CI for Hedges' g {self.ci('g')}).")
        else:
            head += ("The difference is within run-to-run noise: the data neither support nor rule out a small "
                     f"effect ({self.const('ci')}% CI for Hedges' g {self.ci('g')}).")
        paras.append(head)
        p = c.p_one_sided
        if p < 0.05:
            test = (f"The one-sided Welch test is statistically significant at the {self.const('alpha')} level "
                    f"({self.p_equals()})")
            if not a.ci_excludes_zero:
                test += (" even though the two-sided interval above includes zero: the test looks in one direction "
                         "only, and the two disagree at the margin")
            test += (", although adding seeds after a first look makes this p-value optimistic." if a.peeked else ".")
        else:
            test = (f"The one-sided Welch test gives {self.p_equals()}, above the {self.const('alpha')} "
                    "level, so the test does not reject equal means.")
        if c.seeds_for_power is not None:
            test += (f" Detecting an effect of the observed size with {self.const('power')}% power would take about "
                     f"{self.cmp('seeds_for_power')} seeds per arm.")
        paras.append(test)
        paras.append(
            f"The intervention changed the mean training time per run by {self.wall_pct('wall_time.train_s')}% "
            f"({self.wall_ms('control', 'wall_time.train_s')} s to "
            f"{self.wall_ms('experimental', 'wall_time.train_s')} s; total wall-clock {self.wall_pct()}%), which "
            "matters when the gain is compared at equal compute rather than equal tokens.")
        mech = []
        if self.idea.get("why_it_might_work"):
            mech.append(f"The motivating mechanism was that {_inner(self.idea['why_it_might_work'])}")
        if self.idea.get("why_it_might_not"):
            mech.append(f"The risk named before the experiment was that {_inner(self.idea['why_it_might_not'])}")
        if mech:
            mech.append("The experiment measures only the final validation loss; it does not test the mechanism.")
            paras.append(" ".join(mech))
        return "\n\n".join(paras)

    def limitations(self) -> str:
        a = self.a
        c = a.cmp
        items = [
            f"- **Few seeds.** N = {self.n()} seeds per arm and N = {self.n_base()} for the baseline. The "
            f"{self.const('ci')}% interval for Hedges' g is {self.ci('g')}"
            + (f"; about {self.cmp('seeds_for_power')} seeds per arm would give {self.const('power')}% power at the "
               "observed effect." if c.seeds_for_power is not None else "."),
            f"- **One scale.** One model size ({self.params()} parameters) and one budget ({self.tokens()} tokens); "
            "effects at this scale need not hold for larger models or longer training.",
            f"- **One preset and device.** The {self.preset()} preset on {self.device_phrase()}; "
            + ("the seed workflow's 88M-parameter configuration was not run." if "gpu-88m" not in self.preset()
               else "numerics may differ on other hardware."),
            "- **One dataset and one validation split.** Results may differ on other corpora and tokenizers.",
            "- **No retuning.** The intervention used the baseline's hyperparameters; a tuned baseline or a tuned "
            "intervention could change the comparison.",
            "- **Wall-clock** is measured on one machine with sequential runs and includes evaluation time.",
        ]
        if a.peeked:
            from research_harness.gates import PEEKING_CAVEAT
            items.append(f"- **Peeking.** Seeds were added after a first look at the result. {PEEKING_CAVEAT}")
        if not a.inputs.research_scale:
            items.insert(0, f"- **Not the research scale.** {self.not_research_scale_sentence()}")
        if len(a.device_names) > 1:
            items.append("- **Mixed hardware.** The runs used more than one device, so wall-clock times are not "
                         "directly comparable.")
        return "\n".join(items)

    def conclusion(self) -> str:
        a = self.a
        text = (f"At {self.scale_phrase()}, enabling `{self.flag()}` gave a final validation loss of "
                f"{self.ms('experimental')} against {self.ms('control')} for the control (mean ± std, N = {self.n()} "
                f"seeds per arm; Cohen's d = {self.cmp('cohens_d')}, {self.const('ci')}% CI for Hedges' g "
                f"{self.ci('g')}). ")
        if a.decision is gates.Decision.PROCEED:
            text += ("The effect passes the workflow's gate at this scale; confirming it needs more seeds and a "
                     "larger model.")
        elif a.decision is gates.Decision.SUGGESTIVE:
            text += "The result is suggestive only; more seeds are needed before any claim."
        else:
            text += "The idea does not improve on the baseline at this scale."
        if not a.inputs.research_scale:
            text += " " + self.not_research_scale_sentence()
        return text

    def references(self) -> str:
        return "\n".join(f"{i + 1}. {_sentence(r)}" for i, r in enumerate(self.refs))

    def provenance(self) -> str:
        a = self.a
        rows = []
        for arm, recs in (("baseline", a.baseline), ("control", a.control), ("experimental", a.experimental)):
            for r in recs:
                rows.append([arm, self.seed(r["seed"]), f"`{record_ref(r)[:16]}`",
                             self.rec(r, arm, "val_loss", "loss")])
        topic = a.inputs.topic
        return "\n\n".join([
            "Every number in this paper was rendered from the run records below, or computed from them with "
            "`research_harness.stats`, by one formatting path (`research_harness.paper.numbers`). The sidecar "
            f"`{topic}.provenance.json` lists each rendered number with the statistic that produced it and the run "
            "keys of its records.",
            "Table: Run records behind this paper.",
            _md_table(["Arm", "Seed", "Run key", "val_loss"], rows, "lrlr"),
        ])

    def changelog(self, rows: list[dict], checks: list[str]) -> str:
        from research_harness.paper.review import CHECK_DESCRIPTIONS

        if rows:
            body = _md_table(["Reviewer point", "Section changed", "What was done"],
                             [[_cell(r["point"]), _cell(r["section"]), _cell(r["action"])] for r in rows], "lll")
            intro = ("The draft was reviewed by the paper reviewer and the abstract reviewer (both run as code); "
                     "every point they raised (as reviewer/check: finding) and what the revision did about it:")
        else:
            body = _md_table(["Reviewer point", "Section changed", "What was done"],
                             [["none raised", "none", "no revision needed"]], "lll")
            intro = ("The draft was reviewed by the paper reviewer and the abstract reviewer (both run as code); "
                     "neither raised a point, so the draft was not changed.")
        listed = "\n".join(f"- `{c}`: {CHECK_DESCRIPTIONS[c]}" for c in checks)
        return "\n\n".join([intro, "Table: Revision changelog.", body,
                            "The final paper passes every check of both reviewers:", listed])

    def assemble(self, changelog_rows: list[dict] | None = None) -> str:
        from research_harness.paper.review import ALL_CHECKS

        head = f"# {self.title()}\n"
        note = self.scale_note()
        if note:
            head += f"\n{note}\n"
        head += (f"\n*Generated by research_harness from {len(self.a.all_records)} run records on "
                 f"{date.today().isoformat()}.*\n")
        bodies = {
            "Abstract": self.abstract(), "Introduction": self.introduction(), "Related Work": self.related_work(),
            "Method": self.method(), "Experimental Setup": self.setup(), "Results": self.results(),
            "Discussion": self.discussion(), "Limitations": self.limitations(), "Conclusion": self.conclusion(),
            "References": self.references(),
            "Appendix A. Revision changelog": self.changelog(changelog_rows or [], ALL_CHECKS),
            "Appendix B. Provenance": self.provenance(),
        }
        return head + "\n" + "\n".join(f"## {name}\n\n{body}\n" for name, body in bodies.items())

    def section(self, name: str) -> str:
        """The freshly rendered body of one section, by its title."""
        builders = {"abstract": self.abstract, "introduction": self.introduction, "related work": self.related_work,
                    "method": self.method, "experimental setup": self.setup, "results": self.results,
                    "discussion": self.discussion, "limitations": self.limitations, "conclusion": self.conclusion,
                    "references": self.references, "provenance": self.provenance}
        return builders[name.lower()]()


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _config_changes(control_cfg: dict, exp_cfg: dict) -> list[str]:
    a, b = _flatten(control_cfg), _flatten(exp_cfg)
    return sorted(k for k in set(a) | set(b) if k in a and k in b and a[k] != b[k])


def draft_markdown(analysis: Analysis, registry: NumberRegistry, figures: dict[str, str] | None = None) -> str:
    """The first draft of the paper (its changelog appendix still empty)."""
    return Writer(analysis, registry, figures).assemble()
