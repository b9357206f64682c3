"""The paper as data: the numbers table computed up front from the analysis, the words
the records support, and the sections (paragraphs from the prose template, tables and
figures built here), rendered to markdown and LaTeX by two Jinja2 templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from research_harness import stats
from research_harness.facts import MAX_TPS_SPREAD
from research_harness.gates import ALPHA, MAX_IDEAS, NOISE_BELOW, PROCEED_AT, decide
from research_harness.paper.analysis import Analysis
from research_harness.paper.numbers import NumberTable
from research_harness.vocabulary import level_words
from research_harness.workspace import EXTENSION_SEEDS, RESEARCH_TOKENS

TEMPLATES = Path(__file__).parent / "templates"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True, autoescape=False)
BASE_REFERENCES = {  # the works the trainer and the statistics rest on
    "arch": ["Radford et al. (2019). Language Models are Unsupervised Multitask Learners.",
             "Zhang and Sennrich (2019). Root Mean Square Layer Normalization.",
             "Su et al. (2021). RoFormer: Enhanced Transformer with Rotary Position Embedding.",
             "Ainslie et al. (2023). GQA: Training Generalized Multi-Query Transformer Models."],
    "optim": ["Jordan et al. (2024). Muon: An optimizer for hidden layers in neural networks.",
              "Loshchilov and Hutter (2019). Decoupled Weight Decay Regularization."],
    "stats": ["Cohen (1988). Statistical Power Analysis for the Behavioral Sciences.",
              "Hedges (1981). Distribution Theory for Glass's Estimator of Effect Size.",
              "Holm (1979). A Simple Sequentially Rejective Multiple Test Procedure.",
              "Colas et al. (2018). How Many Random Seeds?"],
}
REVISABLE = ("Abstract", "Introduction", "Related Work", "Discussion", "Conclusion")


@dataclass
class Block:
    kind: str  # "p", "list", "math", "table", "figure"
    text: str = ""
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    align: str = ""
    path: str = ""  # a figure's path relative to the paper, without extension


@dataclass
class Section:
    title: str
    blocks: list[Block]


@dataclass
class Doc:
    title: str
    note: str
    sections: list[Section]

    def section(self, title: str) -> Section:
        return next(s for s in self.sections if s.title == title)


def _author_year(ref: str) -> str:
    m = re.match(r"^(.*?\(\d{4}[a-z]?\))", ref.strip())
    return m.group(1) if m else ref.split(". ")[0]


def _inner(text: str) -> str:
    """A quoted sentence continued mid-sentence: 'Deep layers ...' -> 'deep layers ...' (acronyms kept)."""
    text = text.strip()
    return text[0].lower() + text[1:] if len(text) > 1 and text[0].isupper() and text[1].islower() else text


def numbers_for(a: Analysis) -> NumberTable:
    """Every number the paper may show, each with its source."""
    n = NumberTable()
    ctrl, exp, base, recs = a.control, a.experimental, a.baseline, a.records
    keys = lambda rs: [r["run_key"] for r in rs]  # noqa: E731
    meta = a.idea

    def field_of(name, records, path, fmt, **extra):
        values = []
        for r in records:
            cur = r
            for part in path.split("."):
                cur = cur[part]
            values.append(cur)
        n.add(name, values[0], fmt, "record", field=path, run_keys=keys(records), values=sorted(set(map(str, values))),
              **extra)

    def stat(name, value, fmt, statistic, records, field="val_loss"):
        n.add(name, value, fmt, "statistic", statistic=statistic, field=field, run_keys=keys(records))

    for name, value in (("meta.short_title", meta["title"].split(":")[0].strip()), ("meta.title", meta["title"]),
                        ("meta.pitch", meta.get("pitch", "")), ("meta.why", _inner(meta.get("why_it_might_work", ""))),
                        ("meta.why_not", _inner(meta.get("why_it_might_not", ""))),
                        ("meta.flag", f"--use_{meta['name']}"),
                        ("meta.refs", "; ".join(_author_year(r) for r in meta["references"]))):
        n.add(name, value, "raw", "literature", idea_metadata=name.split(".", 1)[1], idea=meta["name"])
    n.add("meta.math", meta["math"], "raw", "literature", idea_metadata="math", idea=meta["name"], latex_math=True)
    for key, refs in BASE_REFERENCES.items():
        n.add(f"ref.base.{key}", "; ".join(_author_year(r) for r in refs), "raw", "literature", references=refs)
    for i, ref in enumerate([*meta["references"], *[r for refs in BASE_REFERENCES.values() for r in refs]]):
        n.add(f"ref.{i}", ref, "raw", "literature", reference=i)
    # settings of the workflow (fixed in code before any data)
    for name, value, fmt, where in (("set.noise", NOISE_BELOW, "g", "gates.NOISE_BELOW"),
                                    ("set.proceed", PROCEED_AT, "g", "gates.PROCEED_AT"),
                                    ("set.alpha", ALPHA, "g", "gates.ALPHA"), ("set.ideas", MAX_IDEAS, "int", "MAX_IDEAS"),
                                    ("set.ci", 95, "int", "confidence level of intervals (%)"),
                                    ("set.power", 80, "int", "power of the seed-count analysis (%)"),
                                    ("set.max_power_n", stats.MAX_POWER_N, "int", "stats.MAX_POWER_N"),
                                    ("set.research_tokens", RESEARCH_TOKENS, "int", "workspace.RESEARCH_TOKENS"),
                                    ("set.tps_spread", MAX_TPS_SPREAD, "g", "facts.MAX_TPS_SPREAD")):
        n.add(name, value, fmt, "setting", setting=where)
    # record fields
    field_of("budget.tokens", recs, "train_tokens", "int")
    field_of("preset", [*base, *ctrl], "preset", "raw")
    field_of("params.control", [*base, *ctrl], "params.total", "params")
    field_of("params.experimental", exp, "params.total", "params")
    for part in ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "seq_len"):
        field_of(f"config.{part}", [*base, *ctrl], f"config.model.{part}", "int")
    for part, fmt in (("batch_size", "int"), ("muon_lr", "g"), ("adamw_lr", "g")):
        field_of(f"config.{part}", [*base, *ctrl], f"config.train.{part}", fmt)
    field_of("data.source", recs, "data.source", "raw")
    field_of("data.train_tokens", recs, "data.train_tokens", "int")
    field_of("data.val_tokens", recs, "data.val_tokens", "int")
    field_of("data.vocab", recs, "data.vocab_size", "int")
    field_of("device.name", recs, "device.name", "raw")
    n.add("ver.torch", ", ".join(sorted({r["device"]["torch"] for r in recs})), "raw", "version", package="torch",
          field="device.torch", run_keys=keys(recs))
    n.add("ver.python", ", ".join(sorted({r["device"].get("python", "?") for r in recs})), "raw", "version",
          package="python", field="device.python", run_keys=keys(recs))
    n.add("date.first", a.facts.first_started[:10], "raw", "record", field="min started", run_keys=keys(recs))
    n.add("date.last", a.facts.last_finished[:10], "raw", "record", field="max finished", run_keys=keys(recs))
    n.add("seeds.arm", ", ".join(str(r["seed"]) for r in ctrl), "raw", "record", field="seed", run_keys=keys(ctrl))
    for arm, rs in (("baseline", base), ("control", ctrl), ("experimental", exp)):
        for r in rs:
            n.add(f"seed.{r['seed']}", r["seed"], "raw", "record", field="seed")
            n.add(f"{arm}.{r['seed']}.val_loss", r["val_loss"], "loss", "record", field="val_loss", run_keys=[r["run_key"]])
            n.add(f"{arm}.{r['seed']}.wall", r["wall_time"]["total_s"], "sec", "record", field="wall_time.total_s",
                  run_keys=[r["run_key"]])
            n.add(f"{arm}.{r['seed']}.tps", r["tokens_per_s"], "int", "record", field="tokens_per_s", run_keys=[r["run_key"]])
            n.add(f"{arm}.{r['seed']}.key", r["run_key"], "raw", "record", field="run_key", run_keys=[r["run_key"]])
        loss = stats.summarize([r["val_loss"] for r in rs])
        wall = stats.summarize([r["wall_time"]["total_s"] for r in rs])
        for what in ("mean", "std", "min", "max"):
            stat(f"{arm}.val_loss.{what}", getattr(loss, what), "loss", f"stats.summarize(val_loss).{what}", rs)
            stat(f"{arm}.wall.{what}", getattr(wall, what), "sec", f"stats.summarize(wall_time.total_s).{what}", rs,
                 "wall_time.total_s")
        stat(f"{arm}.tps.mean", stats.summarize([r["tokens_per_s"] for r in rs]).mean, "int",
             "stats.summarize(tokens_per_s).mean", rs, "tokens_per_s")
    for s, (c, e) in zip(a.seeds, zip(ctrl, exp)):
        stat(f"diff.{s}", c["val_loss"] - e["val_loss"], "loss", "control - experimental val_loss", [c, e])
    arms, cmp, p, ev = [*ctrl, *exp], a.cmp, a.paired, a.evidence
    stat("n.arm", len(ctrl), "int", "seeds per arm", arms, "seed")
    stat("n.baseline", len(base), "int", "baseline seeds", base, "seed")
    stat("n.runs", a.facts.n_distinct, "int", "distinct run keys", recs, "run_key")
    n.add("n.ext", len(EXTENSION_SEEDS), "int", "setting", setting="workspace.EXTENSION_SEEDS")
    for name, value, fmt in (("cmp.delta", cmp.delta, "loss"), ("cmp.delta_sigma", cmp.delta_in_baseline_sigmas, "f2"),
                             ("cmp.d", cmp.cohens_d, "d"), ("cmp.g", cmp.hedges_g, "d"), ("cmp.ci.lo", cmp.d_ci[0], "d"),
                             ("cmp.ci.hi", cmp.d_ci[1], "d"), ("welch.t", cmp.welch_t, "f2"),
                             ("welch.df", cmp.welch_df, "f2"), ("welch.p", cmp.p_one_sided, "p"),
                             ("cmp.power_n", cmp.seeds_for_power, "int"),
                             ("paired.mean", p.mean_diff, "loss"), ("paired.sd", p.sd_diff, "loss"),
                             ("paired.dz", p.d_z, "d"), ("paired.t", p.t, "f2"), ("paired.df", p.df, "int"),
                             ("paired.p", p.p_one_sided, "p"), ("paired.ci.lo", p.ci[0], "loss"),
                             ("paired.ci.hi", p.ci[1], "loss"), ("ev.p_look", ev.p_look_adjusted, "p"),
                             ("ev.p_family", ev.p_family_adjusted, "p"), ("ev.lower", ev.lower_bound, "loss"),
                             ("ev.alpha_eff", ev.alpha_effective, "g"),
                             ("ev.lower_conf", round(100 * (1 - ev.alpha_effective), 2), "g")):
        stat(name, value, fmt, f"{name} (research_harness.stats / gates.assess)",
             arms if not name.endswith("sigma") else [*arms, *base])
    for j, t in enumerate(a.look_tests):
        if t is not None:
            stat(f"look{j}.n", len(t.seeds), "int", f"seeds per arm at look {j}", arms, "seed")
            stat(f"look{j}.d", t.cohens_d, "d", f"cohens_d at look {j}", arms)
    if a.control[0]["wall_time"]["total_s"] > 0:
        c, e = (stats.summarize([r["wall_time"]["total_s"] for r in rs]).mean for rs in (ctrl, exp))
        stat("wall.delta_pct", 100 * (e - c) / c, "pct", "100 (mean exp - mean control) / mean control wall", arms,
             "wall_time.total_s")
    stat("facts.tps_spread", round(a.facts.tps_spread, 2), "g", "max/min tokens/s among identical-code runs", recs,
         "tokens_per_s")
    stat("facts.overlaps", a.facts.overlapping_pairs, "int", "pairs of runs overlapping in time", recs, "started/finished")
    for key in ("p_paper", "p_paper_per_idea", "p_paper_first_look_per_idea", "p_confirmed"):
        short = {"p_paper_per_idea": "p_paper_idea", "p_paper_first_look_per_idea": "p_paper_first"}.get(key, key)
        n.add(f"null.{short}", 100 * a.null[key], "f1", "statistic", statistic=f"calibration.null_rates()"
              f"[{key!r}] in percent", inputs={k: a.null[k] for k in ("n_studies", "confirm", "rho", "seed")})
    n.add("null.mean_gate_d", a.null["mean_gate_d_of_papers"], "d", "statistic",
          statistic="calibration.null_rates()['mean_gate_d_of_papers']: mean gate d of ideas that proceeded, no effect",
          inputs={k: a.null[k] for k in ("n_studies", "confirm", "rho", "seed")})
    agent = a.inputs.agent
    n.add("agent.backend", agent.get("backend") or "catalogue", "raw", "record", field="the research agent's backend")
    n.add("agent.model", agent.get("model") or "none", "raw", "record", field="the model named in its transcripts")
    n.add("agent.transcripts", ", ".join(agent.get("transcripts") or []) or "none", "raw", "record",
          field="runs/agent/<hash>.json", transcripts=agent.get("transcripts") or [])
    return n


def words(a: Analysis, n: NumberTable) -> dict:
    """The words and facts the prose may use, each found in the records or the analysis."""
    facts, cmp = a.facts, a.cmp
    reasons = []
    if not facts.same_hardware:
        reasons.append("the runs used more than one device or host")
    if not facts.sequential:
        reasons.append(f"{n('facts.overlaps')} pair(s) of runs overlapped in time")
    if facts.tps_spread > MAX_TPS_SPREAD:
        reasons.append(f"runs of identical code differ in throughput by a factor of {n('facts.tps_spread')}, more "
                       f"than the {n('set.tps_spread')} allowed")
    if len(facts.executors) > 1:
        reasons.append(f"the runs were trained in different ways ({', '.join(facts.executors)}), each with its own "
                       "start-up costs")
    d = abs(cmp.cohens_d)
    return {
        "level": a.evidence.level.value, "decision": a.decision.value, "decided_by": a.evidence.decided_by,
        "reversed": a.evidence.reversed, "confirm_skipped": not a.inputs.confirm, "fresh": a.evidence.confirmation,
        "title_phrase": (level_words(a.evidence.level).title_reversed if a.evidence.reversed else
                         level_words(a.evidence.level).title),
        "research_scale": a.inputs.research_scale, "improved": cmp.delta > 0, "peeked": a.peeked,
        "config_diff": a.config_diff, "control_is_baseline": a.control_is_baseline,
        "same_hardware": facts.same_hardware, "sequential": facts.sequential,
        "comparable": facts.wall_times_comparable, "wall_reason": "; ".join(reasons),
        "unsandboxed": facts.unsandboxed > 0,
        "lower_positive": a.evidence.lower_bound > 0, "power_n": cmp.seeds_for_power is not None,
        "second_look": len(a.inputs.looks) > 1 and bool(a.inputs.looks[1]),
        "bit_identical": a.inputs.verification.get("bit_identical") is True,
        "magnitude": "negligible" if d < 0.2 else "small" if d < 0.5 else "medium" if d < 0.8 else "large",
        "looks": [{"n": f"look{j}.n", "d": f"look{j}.d", "decision": decide(t.cohens_d).value}
                  for j, t in enumerate(a.look_tests[:2]) if t is not None],
    }


def evidence_rows(w: dict, n: NumberTable) -> list[list[str]]:
    """The table's rows for what may be claimed: the confirmatory test on fresh seeds, or,
    without one, the exploratory p that describes the seeds the gate chose."""
    bound = f"One-sided {n('ev.lower_conf')}% lower confidence bound of the improvement (nats)"
    if w["fresh"]:
        return [["Confirmatory test (pre-registered, fresh seeds)", f"one-sided {w['decided_by']}"],
                ["One-sided p on the fresh seeds", n("ev.p_family")], [bound, n("ev.lower")]]
    return [["Exploratory test (the gate's seeds)", f"one-sided {w['decided_by']}"],
            ["p adjusted for the gate's looks", n("ev.p_look")],
            ["p adjusted for looks and ideas (Holm)", n("ev.p_family")], [bound + ", at that level", n("ev.lower")]]


def paragraphs(text: str) -> list[Block]:
    """Blocks from the prose template's output: blank lines part paragraphs; a paragraph
    whose lines all start with '- ' is a list; one between '$$' marks is display math."""
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in chunk.strip().splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith("- ") for line in lines):
            blocks.append(Block("list", items=[line[2:] for line in lines]))
        elif lines[0].startswith("$$") and lines[-1].endswith("$$"):
            blocks.append(Block("math", text=" ".join(lines)[2:-2].strip()))
        else:
            blocks.append(Block("p", text=" ".join(lines)))
    return blocks


def document(a: Analysis, n: NumberTable, figures: dict[str, str]) -> Doc:
    w = words(a, n)
    prose = ENV.get_template("prose.j2").module
    P = lambda name: paragraphs(str(getattr(prose, name)(w, n)))  # noqa: E731
    seeds = a.seeds
    results = P("results_intro") + [
        Block("table", text="Baseline variance (the workflow's report format).", header=["Metric", "Mean", "Std", "Min",
              "Max"], align="lrrrr", rows=[["val_loss", *(n(f"baseline.val_loss.{k}") for k in ("mean", "std", "min",
                                                                                            "max"))],
                                           ["wall_time (s)", *(n(f"baseline.wall.{k}") for k in ("mean", "std", "min",
                                                                                                "max"))]]),
    ] + P("results_arms") + [
        Block("table", text="Final validation loss per seed (lower is better) and the paired difference.",
              header=["Seed", "Control", "Experimental", "Control − experimental"], align="lrrr",
              rows=[[n(f"seed.{s}"), n(f"control.{s}.val_loss"), n(f"experimental.{s}.val_loss"), n(f"diff.{s}")]
                    for s in seeds]),
        Block("table", text="Effect sizes and one-sided tests (the alternative: the experimental loss is lower).",
              header=["Statistic", "Value"], align="lr", rows=[
                  ["Cohen's d (the gate's statistic)", n("cmp.d")], ["Hedges' g", n("cmp.g")],
                  [f"{n('set.ci')}% CI of the standardized effect", f"[{n('cmp.ci.lo')}, {n('cmp.ci.hi')}]"],
                  ["Paired mean improvement (nats)", n("paired.mean")],
                  [f"{n('set.ci')}% CI of the paired improvement", f"[{n('paired.ci.lo')}, {n('paired.ci.hi')}]"],
                  ["Paired d_z", n("paired.dz")], ["Paired t (df), p", f"{n('paired.t')} ({n('paired.df')}), {n('paired.p')}"],
                  ["Welch t (df), p", f"{n('welch.t')} ({n('welch.df')}), {n('welch.p')}"],
                  *evidence_rows(w, n), ["Evidence level", w["level"]]]),
    ] + P("results_effects") + P("results_wall") + [
        Block("table", text="Wall-clock time per run (mean ± std, seconds) and throughput.",
              header=["Arm", "N", "Wall-clock (s)", "Tokens/s"], align="lrrr",
              rows=[[arm.capitalize(), n("n.baseline" if arm == "baseline" else "n.arm"),
                     n(arm + ".wall.mean") + " ± " + n(arm + ".wall.std"), n(f"{arm}.tps.mean")]
                    for arm in ("baseline", "control", "experimental")]),
    ] + [Block("figure", text=caption, path=figures[key]) for key, caption in (
        ("curves", "Validation loss during training, every seed of both arms."),
        ("final", "Final validation loss per seed, with the baseline mean ± one σ.")) if key in figures]
    refs = [n(f"ref.{i}") for i in range(len(a.idea["references"]) + sum(map(len, BASE_REFERENCES.values())))]
    records = [[arm, n(f"seed.{s}"), "`" + n(f"{arm}.{s}.key") + "`", n(f"{arm}.{s}.val_loss")]
               for arm, rs in (("baseline", a.baseline), ("control", a.control), ("experimental", a.experimental))
               for s in (r["seed"] for r in rs)]
    sections = [Section(title, P(name)) for title, name in (
        ("Abstract", "abstract"), ("Introduction", "introduction"), ("Related Work", "related_work"),
        ("Method", "method"), ("Experimental Setup", "setup"))]
    sections += [Section("Results", results)]
    sections += [Section(title, P(name)) for title, name in (
        ("Discussion", "discussion"), ("Limitations", "limitations"), ("Conclusion", "conclusion"))]
    sections += [Section("References", [Block("list", items=refs)]),
                 Section("Appendix A. Review and revision", []),
                 Section("Appendix B. Provenance", [Block("p", text=(
                     "Every number in this paper is listed in the sidecar "
                     f"`{a.inputs.topic}.provenance.json` with its source: a run record's key and field, a statistic "
                     "with its inputs, a package version, a setting of the workflow, or a quote from the idea's "
                     "metadata or references. The research agent: the "
                     f"{n('agent.backend')} backend, model {n('agent.model')}; the transcripts of its requests and "
                     f"replies (runs/agent/): {n('agent.transcripts')}. The runs behind it:")),
                     Block("table", text="Run records.", header=["Arm", "Seed", "Run key", "val_loss"], align="lrlr",
                           rows=records)])]
    return Doc(title=str(prose.title(w, n)).strip(),
               note=f"Rendered by research_harness from {n('n.runs')} distinct run records, made between "
                    f"{n('date.first')} and {n('date.last')}.", sections=sections)


def render(doc: Doc, n: NumberTable, fmt: str, *, trace: bool = False, figures_dir: str = "figures") -> str:
    """The paper as markdown ("md") or LaTeX ("tex"); `trace` keeps the placeholders."""
    from research_harness.paper.latex import escape_text  # noqa: PLC0415

    if fmt == "md":
        fill = (lambda text: text) if trace else n.fill
    else:
        fill = lambda text: escape_text(text, None if trace else n)  # noqa: E731
    template = ENV.get_template(f"paper.{fmt}.j2")
    return template.render(doc=doc, fill=fill, figures_dir=figures_dir)
