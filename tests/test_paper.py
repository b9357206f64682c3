"""Phase 3, the paper: rendered from records, reviewed by code, revised, typeset.

No training here: the run records are synthetic but shaped like trainer.run's
(tests/fixtures_paper.py). Tests that need pdflatex skip with the reason when it is
missing.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures_paper import IDEA, make_inputs, make_record  # noqa: E402

from research_harness import gates, stats  # noqa: E402
from research_harness.paper import (  # noqa: E402
    INSTALL_HINT,
    LatexError,
    PaperInputError,
    ReviewContext,
    compile_latex,
    context_for,
    draft_paper,
    latex_escape,
    markdown_to_latex,
    number_tokens,
    review_abstract,
    review_all,
    review_paper,
    revise_paper,
    write_paper,
)
from research_harness.paper.mdtools import get_section, set_section, split_sections, join_sections  # noqa: E402
from research_harness.paper.numbers import NumberRegistry, record_ref  # noqa: E402

HAVE_PDFLATEX = shutil.which("pdflatex") is not None
needs_pdflatex = pytest.mark.skipif(not HAVE_PDFLATEX, reason=INSTALL_HINT)


def pdf_text(path: Path) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return len(reader.pages), "\n".join(p.extract_text() or "" for p in reader.pages)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2212", "-")).lower()


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    inputs = make_inputs()
    out = tmp_path_factory.mktemp("papers")
    return inputs, write_paper(inputs, out, compile_pdf=HAVE_PDFLATEX)


@pytest.fixture()
def drafted():
    md, writer = draft_paper(make_inputs())
    return md, writer


def ctx(writer):
    return context_for(writer.a, writer.reg, writer)


def checks(findings):
    return {f.check for f in findings}


def edit(md: str, section: str, fn) -> str:
    return set_section(md, section, fn(get_section(md, section)))


# ---------------------------------------------------------------------------------------------
# The whole phase
# ---------------------------------------------------------------------------------------------


def test_write_paper_outputs_and_passes_both_reviews(paper):
    inputs, result = paper
    assert result.markdown_path.name == "value_residual.md" and result.markdown_path.exists()
    assert result.tex_path.name == "paper.tex" and result.tex_path.exists()
    assert result.provenance_path.name == "value_residual.provenance.json"
    assert result.review_after == [] and result.passed
    md = result.markdown_path.read_text()
    for section in ("Abstract", "Introduction", "Related Work", "Method", "Experimental Setup", "Results",
                    "Discussion", "Limitations", "Conclusion", "References", "Appendix A. Revision changelog",
                    "Appendix B. Provenance"):
        assert f"## {section}\n" in md, section
    _, writer = draft_paper(inputs)
    assert review_all(md, ctx(writer)) == []  # the written file, re-reviewed from scratch
    # figures: both plots, PNG for markdown and PDF for LaTeX, referenced from both
    names = sorted(p.name for p in result.figures)
    assert names == ["value_residual_final_val_loss.pdf", "value_residual_final_val_loss.png",
                     "value_residual_val_loss_curves.pdf", "value_residual_val_loss_curves.png"]
    assert all(p.stat().st_size > 1000 for p in result.figures)
    assert "](figures/value_residual_val_loss_curves.png)" in md
    assert "figures/value_residual_val_loss_curves.pdf" in result.tex_path.read_text()


def test_results_contain_every_mandated_table(paper):
    inputs, result = paper
    results = get_section(result.markdown_path.read_text(), "Results")
    for heading in ("### Baseline variance", "### Per-seed results", "### Effect sizes", "### Wall-clock"):
        assert heading in results
    for rec in [*inputs.baseline, *inputs.control, *inputs.experimental]:
        assert f"{rec['val_loss']:.4f}" in results  # every run's final val_loss, per seed
    cmp = stats.compare_arms([r["val_loss"] for r in inputs.control], [r["val_loss"] for r in inputs.experimental],
                             [r["val_loss"] for r in inputs.baseline])
    for text in (f"{cmp.cohens_d:.2f}", f"{cmp.hedges_g:.2f}", f"[{cmp.g_ci[0]:.2f}, {cmp.g_ci[1]:.2f}]",
                 f"{cmp.p_one_sided:.3f}", f"{cmp.delta:.4f}", f"{cmp.delta_in_baseline_sigmas:.2f}",
                 str(cmp.seeds_for_power)):
        assert text in results, text
    base = stats.summarize([r["val_loss"] for r in inputs.baseline])
    assert f"| val_loss | {base.mean:.4f} | {base.std:.4f} | {base.min:.4f} | {base.max:.4f} |" in results
    wall = stats.summarize([r["wall_time"]["total_s"] for r in inputs.experimental])
    assert f"{wall.mean:.1f} ± {wall.std:.1f}" in results
    assert f"**{gates.decide(cmp.cohens_d).value}**" in results


def test_abstract_numbers_are_traceable_to_records(paper):
    inputs, result = paper
    md = result.markdown_path.read_text()
    abstract = get_section(md, "Abstract")
    prov = json.loads(result.provenance_path.read_text())
    by_text: dict[str, list[dict]] = {}
    for num in prov["numbers"]:
        for tok in number_tokens(num["text"]):
            by_text.setdefault(tok, []).append(num)
    tokens = number_tokens(abstract)
    assert len(tokens) >= 15
    for tok in tokens:
        assert tok in by_text, f"abstract number {tok} has no provenance entry"
    # recompute the experimental mean from the records and find it, with its sources
    exp = stats.summarize([r["val_loss"] for r in inputs.experimental])
    ctrl = stats.summarize([r["val_loss"] for r in inputs.control])
    assert f"{exp.mean:.4f} ± {exp.std:.4f}" in abstract
    assert f"{ctrl.mean:.4f} ± {ctrl.std:.4f}" in abstract
    entry = next(n for n in prov["numbers"] if n["id"] == "experimental.val_loss.mean")
    assert entry["text"] == f"{exp.mean:.4f}" and entry["kind"] == "statistic"
    assert entry["source"]["run_keys"] == [r["run_key"] for r in sorted(inputs.experimental, key=lambda r: r["seed"])]
    assert prov["runs"]["experimental"][0]["record_path"].startswith("runs/")
    # the abstract states seeds and scale
    assert "N = 3" in abstract and "1.32M parameters" in abstract and "1,000,000 training tokens" in abstract


def test_provenance_maps_every_number_of_the_claim_sections(paper):
    _, result = paper
    md = result.markdown_path.read_text()
    prov = json.loads(result.provenance_path.read_text())
    known = {tok for n in prov["numbers"] for tok in number_tokens(n["text"])}
    known |= set(number_tokens(json.dumps(IDEA)))
    for section in ("Abstract", "Results", "Discussion", "Conclusion"):
        body = re.sub(r"\$\$.*?\$\$", " ", get_section(md, section), flags=re.S)
        stray = [t for t in number_tokens(body) if t not in known]
        assert stray == [], (section, stray)
    for num in prov["numbers"]:
        assert num["kind"] in ("record", "statistic", "constant")
        if num["kind"] != "constant":
            assert num["source"]["run_keys"], num


@needs_pdflatex
def test_pdf_compiles_with_pages_and_the_abstract_numbers(paper):
    inputs, result = paper
    assert result.pdf_error is None, result.pdf_error
    assert result.pdf_path is not None and result.pdf_path.name == "paper.pdf"
    pages, text = pdf_text(result.pdf_path)
    assert pages >= 2
    exp = stats.summarize([r["val_loss"] for r in inputs.experimental])
    ctrl = stats.summarize([r["val_loss"] for r in inputs.control])
    flat = squash(text)
    for number in (f"{exp.mean:.4f}", f"{ctrl.mean:.4f}", f"{exp.std:.4f}", f"{ctrl.std:.4f}"):
        assert number in flat
    assert "abstract" in flat and "limitations" in flat and "revision changelog" in flat
    assert not (result.pdf_path.parent / "paper.log").exists()  # cleaned after success


# ---------------------------------------------------------------------------------------------
# Planted defects: each is caught, and fixed where text can fix it
# ---------------------------------------------------------------------------------------------


def plant_discussion(sentence):
    return lambda md: edit(md, "Discussion", lambda b: sentence + " " + b)


def drop_section(name):
    def f(md):
        return join_sections([s for s in split_sections(md) if s.title != name])
    return f


def drop_subsection(heading):
    def f(md):
        return edit(md, "Results", lambda b: re.sub(rf"### {heading}\n.*?(?=\n### |\Z)", "", b, flags=re.S))
    return f


FIXABLE = [
    ("proves", plant_discussion("This proves that value residuals help."), "overclaiming"),
    ("state-of-the-art", plant_discussion("The model reaches state-of-the-art loss."), "overclaiming"),
    ("revolutionary", plant_discussion("It is a revolutionary change."), "overclaiming"),
    ("groundbreaking", lambda md: edit(md, "Conclusion", lambda b: "A groundbreaking result. " + b), "overclaiming"),
    ("no limitations", drop_section("Limitations"), "limitations"),
    ("empty limitations", lambda md: set_section(md, "Limitations", ""), "limitations"),
    ("no related work", drop_section("Related Work"), "structure"),
    ("no error bars", lambda md: edit(md, "Results", lambda b: re.sub(r" ± \d+\.\d+", "", b)), "error-bars"),
    ("no effect sizes", drop_subsection("Effect sizes"), "effect-sizes"),
    ("no wall-clock", lambda md: edit(drop_subsection("Wall-clock")(md), "Results", lambda b: "\n".join(
        l for l in b.splitlines() if not re.search(r"wall|time", l, re.I))), "wall-clock"),
    ("no baseline variance", drop_subsection("Baseline variance"), "baseline-variance"),
    ("no per-seed table", drop_subsection("Per-seed results"), "per-seed"),
    ("no seeds in conclusion", lambda md: edit(md, "Conclusion", lambda b: re.sub(r"N = \d+ seeds per arm; ", "", b)),
     "seeds-stated"),
    ("abstract number not in results",
     lambda md: edit(md, "Abstract", lambda b: b + " Training is 12.5% cheaper."), "abstract-numbers"),
    ("abstract without seeds",
     lambda md: edit(md, "Abstract", lambda b: re.sub(r",? ?N = \d+", "", re.sub(r"N = \d+ seeds each \([^)]*\)",
                                                                                "two arms", b))), "abstract-seeds"),
    ("abstract without scale",
     lambda md: edit(md, "Abstract", lambda b: re.sub(r"\d+\.\d+M parameters", "a small model", b)), "abstract-scale"),
    ("abstract without error bars",
     lambda md: edit(md, "Abstract", lambda b: re.sub(r" ± \d+\.\d+", "", b)), "abstract-error-bars"),
    ("abstract without effect size",
     lambda md: edit(md, "Abstract", lambda b: re.sub(r"Cohen's d = [^,]*, Hedges' g = [^(]*", "", b)),
     "abstract-effect-size"),
]


@pytest.mark.parametrize("name, plant, check", FIXABLE, ids=[f[0] for f in FIXABLE])
def test_planted_fixable_defect_is_caught_and_fixed(drafted, name, plant, check):
    md, writer = drafted
    c = ctx(writer)
    assert review_all(md, c) == []
    bad = plant(md)
    found = review_all(bad, c)
    hits = [f for f in found if f.check == check]
    assert hits, (check, [str(f) for f in found])
    assert all(f.fixable for f in hits)
    fixed, changelog, remaining = revise_paper(bad, found, writer)
    assert remaining == [], [str(f) for f in remaining]
    assert review_all(fixed, ctx(writer)) == []
    assert any(row["check"] == check and row["fixed"] for row in changelog)
    assert all({"point", "section", "action"} <= set(row) for row in changelog)


def test_overclaiming_words_get_measured_wording(drafted):
    md, writer = drafted
    bad = edit(md, "Discussion", lambda b: "This proves it. A groundbreaking result, and a revolutionary idea. " + b)
    fixed, changelog, remaining = revise_paper(bad, review_all(bad, ctx(writer)), writer)
    disc = get_section(fixed, "Discussion")
    assert disc.lstrip().startswith("This supports it. A result, and an idea. ")
    assert not re.search(r"\b(?:proves?|groundbreaking|revolutionary)\b", disc, re.I)
    assert {row["section"] for row in changelog} == {"Discussion"}


def test_significant_needs_a_test_that_says_so():
    md, writer = draft_paper(make_inputs(improvement=0.0))
    c = ctx(writer)
    assert writer.a.p_value >= 0.05 and review_all(md, c) == []
    body = md.split("## Appendix")[0].lower()
    assert "significant" not in body  # the draft avoids the word when the test does not say so
    bad = edit(md, "Results", lambda b: b + "\n\nThe experimental arm has a significantly lower loss.")
    bad = edit(bad, "Abstract", lambda b: b + " The gain is statistically significant.")
    found = review_all(bad, c)
    assert {"overclaiming", "abstract-significance"} <= checks(found)
    fixed, _, remaining = revise_paper(bad, found, writer)
    assert remaining == [] and "significant" not in get_section(fixed, "Results")
    assert "significant" not in get_section(fixed, "Abstract")
    # with a test below 0.05 the same word is allowed; negations are never flagged
    ok = ReviewContext(p_value=0.01)
    assert "overclaiming" not in checks(review_paper(bad, ok))
    assert "abstract-significance" not in checks(review_abstract(bad, ok))
    neg = edit(md, "Discussion", lambda b: "The difference is not statistically significant. " + b)
    assert "overclaiming" not in checks(review_paper(neg, ReviewContext(p_value=0.4)))


UNFIXABLE = [
    ("claim on two seeds", plant_discussion("On N = 2 seeds the gain doubles."), "seeds-minimum"),
    ("capitalised coinage", plant_discussion("We call this the Residual Echo Cascade."), "invented-terms"),
    ("quoted coinage", plant_discussion('A "value funnel" forms in deep layers.'), "invented-terms"),
    ("hand-typed number", plant_discussion("The loss fell by 7.77 nats."), "unsourced-number"),
]


@pytest.mark.parametrize("name, plant, check", UNFIXABLE, ids=[u[0] for u in UNFIXABLE])
def test_planted_unfixable_defect_is_caught_and_reported(drafted, name, plant, check):
    md, writer = drafted
    bad = plant(md)
    found = [f for f in review_all(bad, ctx(writer)) if f.check == check]
    assert found and not any(f.fixable for f in found)
    assert all(f.section == "Discussion" for f in found)
    _, changelog, remaining = revise_paper(bad, found, writer)
    assert check in checks(remaining)
    assert any(r["check"] == check and not r["fixed"] and "not fixable" in r["action"] for r in changelog)


def test_terms_from_metadata_and_records_are_not_invented(drafted):
    md, writer = drafted
    ok = plant_discussion('Value Residual Learning keeps "token-level information" and King James Bible text.')(md)
    assert "invented-terms" not in checks(review_paper(ok, ctx(writer)))


def test_reviews_without_context_still_check_the_text(drafted):
    md, _ = drafted
    planted = md.replace("The point estimate", "The significant estimate")
    assert "abstract-significance" in checks(review_abstract(planted))
    broken = set_section(md, "Abstract", "Too short.")
    assert checks(review_abstract(broken)) == {"abstract-present"}
    assert "overclaiming" in checks(review_paper(md))  # no p given: 'statistically significant' is flagged


# ---------------------------------------------------------------------------------------------
# Scale label, peeking, wording by category
# ---------------------------------------------------------------------------------------------


def test_not_the_research_scale_is_labelled_everywhere(tmp_path):
    inputs = make_inputs(tokens=100_000, topic="small_check")
    assert inputs.research_scale is False
    result = write_paper(inputs, tmp_path, compile_pdf=HAVE_PDFLATEX)
    md = result.markdown_path.read_text()
    assert result.passed, [str(f) for f in result.review_after]
    assert "not the research scale" in result.title
    for section in ("Abstract", "Results", "Limitations", "Conclusion"):
        assert "not the research scale" in get_section(md, section).lower(), section
    assert "not the research scale" in result.tex_path.read_text().lower()
    if HAVE_PDFLATEX:
        assert result.pdf_path is not None, result.pdf_error
        assert "not the research scale" in squash(pdf_text(result.pdf_path)[1])
    # removing the label is caught and put back
    md2, writer = draft_paper(inputs)
    bad = md2.replace(" (not the research scale)", "", 1)
    bad = edit(bad, "Limitations", lambda b: "\n".join(l for l in b.splitlines() if "Not the research" not in l))
    found = review_all(bad, ctx(writer))
    assert "scale-label" in checks(found)
    fixed, _, remaining = revise_paper(bad, found, writer)
    assert remaining == [] and "(not the research scale)" in fixed.splitlines()[0]
    with pytest.raises(PaperInputError, match="research_scale=True"):
        draft_paper(make_inputs(tokens=100_000, research_scale=True))


def test_peeking_caveat_when_seeds_were_added():
    history = [{"seeds": [42, 137, 256], "d": 0.3, "decision": "suggestive"},
               {"seeds": [42, 137, 256, 512, 1024], "d": 0.9, "decision": "proceed"}]
    md, writer = draft_paper(make_inputs(n_arm=5, decision_history=history))
    assert gates.PEEKING_CAVEAT in get_section(md, "Limitations")
    results = get_section(md, "Results")
    a = writer.a
    d3 = stats.cohens_d([r["val_loss"] for r in a.control[:3]], [r["val_loss"] for r in a.experimental[:3]])
    assert f"N = 3 seeds per arm gave d = {d3:.2f}" in results  # recomputed, not the 0.3 passed in
    assert review_all(md, ctx(writer)) == []


@pytest.mark.parametrize("improvement, words", [
    (0.03, ["proceed"]),
    (0.004, ["suggestive", "noise"]),
    (-0.03, ["raised the loss"]),
])
def test_discussion_wording_follows_the_effect_category(improvement, words):
    md, writer = draft_paper(make_inputs(improvement=improvement))
    decision = writer.a.decision.value
    disc = get_section(md, "Discussion") + get_section(md, "Abstract")
    assert any(w in disc for w in words) or decision in disc, (decision, disc)
    if writer.a.verdict != "WINNER":
        assert "proceeds" not in disc and "passes the workflow's gate" not in get_section(md, "Conclusion")
    assert review_all(md, ctx(writer)) == []


# ---------------------------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------------------------


def test_latex_escaping():
    assert latex_escape("a_b 50% R&D #1 {x} $5 ~ ^") == (
        r"a\_b 50\% R\&D \#1 \{x\} \$5 \textasciitilde{} \textasciicircum{}")
    assert latex_escape("back\\slash") == r"back\textbackslash{}slash"
    assert latex_escape("5.1 ± 0.2, σ, ≥ 0.5") == r"5.1 $\pm$ 0.2, $\sigma$, $\geq$ 0.5"
    assert latex_escape("[-0.07, 3.34]") == r"[$-$0.07, 3.34]"
    md = ("# T_itle & more\n\n## Abstract\n\nA 50% cut_off & #3 here, with $x_1^2$ math and `--use_x` code, "
          "**bold_1** and *it*. Cite [1].\n\n## Results\n\nTable: Cap_tion 10%.\n\n| a_b | c |\n| --- | ---: |\n"
          "| x&y | 1 |\n\n$$\n\\lambda_l = 0.5\n$$\n\n## References\n\n1. Some_one (2020). A & B.\n")
    tex = markdown_to_latex(md)
    assert r"\title{\bfseries T\_itle \& more}" in tex
    assert r"A 50\% cut\_off \& \#3 here, with $x_1^2$ math" in tex
    assert r"\textbf{bold\_1}" in tex and r"\emph{it}" in tex and r"~\cite{ref1}" in tex
    assert r"\caption{Cap\_tion 10\%.}" in tex and r"x\&y & 1 \\" in tex
    assert "\\begin{equation}\n\\lambda_l = 0.5\n\\end{equation}" in tex
    assert r"\bibitem{ref1} Some\_one (2020). A \& B." in tex
    assert r"\begin{abstract}" in tex and r"\documentclass[11pt]{article}" in tex


@needs_pdflatex
def test_special_characters_in_idea_metadata_compile(tmp_path):
    inputs = make_inputs(topic="odd-chars_1")
    inputs.idea = dict(inputs.idea, title="Loss & 100% #tricks_v2: a_b {test} ~x^2", pitch="Cut 50% of R&D_cost #1.",
                       references=["O'Brien & Smith et al. (2023). The 100% Solution_v2 #1 {A}."])
    result = write_paper(inputs, tmp_path)
    assert result.pdf_error is None, result.pdf_error
    tex = result.tex_path.read_text()
    assert r"Loss \& 100\% \#tricks\_v2" in tex
    _, text = pdf_text(result.pdf_path)
    assert "Loss & 100% #tricks" in text.replace("\n", " ")


def test_missing_pdflatex_gives_the_install_hint_and_keeps_the_tex(tmp_path, monkeypatch):
    import research_harness.paper.compile as compile_mod

    monkeypatch.setattr(compile_mod.shutil, "which", lambda name: None)
    result = write_paper(make_inputs(), tmp_path)
    assert result.pdf_path is None
    assert result.pdf_error == INSTALL_HINT
    assert "pdflatex not found; install it with: apt-get install texlive-latex-base" in result.pdf_error
    assert result.tex_path.exists() and result.markdown_path.exists()


@needs_pdflatex
def test_latex_error_quotes_the_first_error_and_keeps_the_log(tmp_path):
    tex = tmp_path / "paper.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\nHello \\undefinedmacro{x}\n\\end{document}\n")
    (tmp_path / "paper.pdf").write_bytes(b"%PDF stale")
    with pytest.raises(LatexError) as info:
        compile_latex(tex, timeout_s=60)
    msg = str(info.value)
    assert "Undefined control sequence" in msg and "paper.log" in msg
    assert (tmp_path / "paper.log").exists()
    assert not (tmp_path / "paper.pdf").exists()  # a stale PDF never passes for the new .tex


# ---------------------------------------------------------------------------------------------
# Inputs and the number registry
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mutate, message", [
    (lambda i: i.experimental.pop(), "at least 3 seeds"),
    (lambda i: i.control[0].update(status="failed"), "only finished runs"),
    (lambda i: i.experimental[1].update(val_loss=float("nan")), "diverged"),
    (lambda i: i.control[0].update(seed=999), "seeds"),
    (lambda i: i.control[0].update(train_tokens=500_000), 
     "same budget"),
    (lambda i: i.experimental[0].update(flags=[]), "must enable it"),
    (lambda i: i.control[0]["data"].update(fingerprint="other"), "different datasets"),
    (lambda i: setattr(i, "topic", "../escape"), "slug"),
])
def test_bad_inputs_are_refused_with_a_clear_message(mutate, message):
    inputs = make_inputs()
    mutate(inputs)
    with pytest.raises(PaperInputError, match=message):
        draft_paper(inputs)


def test_number_registry_provenance_and_tokens():
    reg = NumberRegistry()
    rec = make_record(42, 5.123456, arm="x")
    assert reg.record("r", rec, "val_loss", "loss", arm="control") == "5.1235"
    assert reg.record("r", rec, "val_loss", "loss", arm="control") == "5.1235"  # idempotent
    with pytest.raises(ValueError, match="registered"):
        reg.stat("r", 1.0, "loss", statistic="x", records=[rec])
    assert reg.get("r").source["run_keys"] == [rec["run_key"]]
    bare = {k: v for k, v in rec.items() if k not in ("run_key", "record_path")}
    assert record_ref(bare).startswith("sha:") and record_ref(bare) == record_ref(dict(bare))
    assert number_tokens("d = -0.07, 1.32M params, 95% CI, [3], gpu-88m, `abc123`, 1,000,000 tokens, V_1") == [
        "0.07", "1.32", "95", "1,000,000"]


@needs_pdflatex
def test_revised_paper_with_a_changelog_compiles(drafted, tmp_path):
    from research_harness.paper import ALL_CHECKS

    md, writer = drafted
    bad = plant_discussion("This proves it is a groundbreaking, state-of-the-art result.")(md)
    bad = edit(bad, "Abstract", lambda b: b + " It is 12.5% cheaper.")
    bad = edit(bad, "Introduction", lambda b: b + "\n\nSee result_x & 100% #1 {a}.")
    fixed, changelog, remaining = revise_paper(bad, review_all(bad, ctx(writer)), writer)
    assert remaining == [] and len(changelog) == 4
    final = set_section(fixed, "Appendix A. Revision changelog", writer.changelog(changelog, ALL_CHECKS))
    assert "| Discussion | replaced 'proves' with 'supports' |" in final
    tex = tmp_path / "paper.tex"
    tex.write_text(markdown_to_latex(final))
    pages, text = pdf_text(compile_latex(tex))
    flat = squash(text)
    assert pages >= 2 and "revision changelog" in flat and "replaced" in flat and "result_x & 100% #1" in flat


def test_write_paper_reports_findings_it_cannot_fix(tmp_path, monkeypatch):
    from research_harness.paper.draft import Writer

    original = Writer.discussion
    monkeypatch.setattr(Writer, "discussion", lambda self: original(self) + " We call it the Residual Echo Cascade.")
    result = write_paper(make_inputs(), tmp_path, compile_pdf=False)
    assert not result.passed
    assert checks(result.review_before) == checks(result.review_after) == {"invented-terms"}
    md = result.markdown_path.read_text()
    assert "Findings that remain on this paper" in md and "Residual Echo Cascade" in get_section(md, "Appendix A")
    assert result.pdf_path is None and result.pdf_error is None and result.tex_path.exists()


def test_a_huge_effect_reads_cleanly_and_passes_review(tmp_path):
    """Regression from the first real 1M-token study: d of about 10 gave 'p = < 0.001' and a
    power sentence ('about 2 seeds per arm') that the seed-count check took for a claim."""
    inputs = make_inputs(improvement=0.05, noise=0.004)
    md, writer = draft_paper(inputs)
    assert "p = <" not in md and "p < 0.001" in md
    assert "power would take about 2 seeds per arm" in md
    assert not [f for f in review_paper(md, context_for(writer.a, writer.reg, writer)) if f.check == "seeds-minimum"]
