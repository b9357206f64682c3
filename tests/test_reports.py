"""The markdown reports as pure renderers: data in, text out, with no workspace, store,
runner or simulation behind them (synthetic records, no training)."""

from __future__ import annotations

from pathlib import Path

from helpers.fixtures_paper import BASELINE_SEEDS, make_record
from research_harness import gates, stats
from research_harness.discovery.journal import Entry
from research_harness.reports import baseline as baseline_report
from research_harness.reports.experiment import ExperimentData, render
from research_harness.workspace import ARM_SEEDS, Settings, Workspace

SETTINGS = Settings(research_dir=Path("study"), tokens=3_000)
# Made-up null rates: the report must print what it is handed, never simulate its own.
NULL_RATES = {"n_studies": 1234, "p_paper_per_idea": 0.0123, "p_paper": 0.0456, "p_confirmed": 0.0078, "rho": 0.25,
              "p_paper_first_look_per_idea": 0.01}


def _baseline() -> list[dict]:
    return [make_record(s, 4.0 + 0.01 * i, tokens=3_000) for i, s in enumerate(BASELINE_SEEDS)]


def test_the_baseline_report_reads_back_what_it_renders():
    records = _baseline()
    text = baseline_report.render(records, SETTINGS)
    parsed = baseline_report.parse(text)
    assert parsed.seeds == list(BASELINE_SEEDS)
    assert parsed.run_keys == {r["seed"]: r["run_key"] for r in records}
    assert parsed.val_loss == {r["seed"]: round(r["val_loss"], 4) for r in records}


def _entry(module: str) -> Entry:
    entry = Entry(rid="RID-01", idea="alpha_idea", title="Alpha", category="attention", flag="--use_alpha_idea",
                  pitch="", slot=1, implementation={"module": module, "generated": False})
    entry.set_status("Proceeded (preliminary)", "planted", today="2026-01-01")
    entry.decisions = [{"look": 0, "seeds": list(ARM_SEEDS), "d": 1.2, "decision": "proceed",
                        "status": "Proceeded (preliminary)", "evidence": {}, "date": "2026-01-01"}]
    entry.verdict = "preliminary"
    return entry


def test_the_experiment_report_renders_only_the_data_it_is_handed():
    base = _baseline()
    control = [r for r in base if r["seed"] in ARM_SEEDS]
    exp = [make_record(r["seed"], r["val_loss"] - 0.03, flags=("alpha_idea",), tokens=3_000) for r in control]
    test = gates.evidence_test({r["seed"]: r["val_loss"] for r in control}, {r["seed"]: r["val_loss"] for r in exp})
    cmp = stats.compare_arms([r["val_loss"] for r in control], [r["val_loss"] for r in exp],
                             [r["val_loss"] for r in base])
    text = render(ExperimentData(entry=_entry("ideas/alpha_idea.py"), settings=SETTINGS, module="ideas/alpha_idea.py",
                                 control=control, experimental=exp, failed=[], baseline=base, test=test, comparison=cmp,
                                 null_rates=NULL_RATES, figure="figures/alpha_idea_val_loss_curves.png"))
    assert "`ideas/alpha_idea.py`: an existing module" in text
    assert "1,234 studies" in text and "1.2% of the time" in text and "4.6% of the time" in text
    assert "](figures/alpha_idea_val_loss_curves.png)" in text
    assert f"experimental seed 42: `{exp[0]['run_key']}`" in text


def test_paths_are_shown_relative_to_the_workspace_or_the_project(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.shown_path(tmp_path / "ideas" / "generated" / "x.py") == "ideas/generated/x.py"
    project_file = Path(__file__).resolve()
    assert ws.shown_path(project_file) == "tests/test_reports.py"
    assert ws.shown_path("/somewhere/else/idea.py") == "idea.py"
    assert ws.shown_path("ideas/kept.py") == "ideas/kept.py"  # a journal that stores it relative already
