"""A/A calibration (runs only with `-m research_calibration`): the built-in null idea
(same data order, another initialisation stream: a true null) through the same arms, the
study engine's flow (gate, then confirmation on the block's fresh seeds) and evidence code
as a real idea, once per repetition on its own block of seeds, then
docs/research/calibration_<label>.md: how often this gate passes by chance on this
hardware, beside the simulation of the decision code.

    pytest experiments/ -m research_calibration --research-calibration-studies 20"""

import pytest

from research_harness.discovery import aa

pytestmark = pytest.mark.research_phase("calibration")


def pytest_generate_tests(metafunc):
    if "rep" in metafunc.fixturenames:
        from research_harness.plugin import research_state

        studies = research_state(metafunc.config).settings.calibration_studies
        metafunc.parametrize("rep", range(1, studies + 1), ids=lambda r: f"rep={r}")


def test_null_repetition(rep, research, record_run):
    def on_run(arm, record, trained):
        record_run(f"aa{rep}-{arm.name}", record, trained)

    result = aa.run_repetition(research.runner, rep, on_run)
    assert result["looks"][0]["decision"] in ("noise", "suggestive", "proceed")
    assert result["level"] in ("confirmed", "not confirmed", "preliminary", "not supported")
    assert result["paper"] == (result["looks"][-1]["decision"] == "proceed")


def test_calibration_report(research, record_property):
    studies = research.settings.calibration_studies
    results = [aa.run_repetition(research.runner, rep) for rep in range(1, studies + 1)]  # stored runs: no training
    aa.save(research.runner, results)
    path = aa.write_report(research.runner, results)
    record_property("research_report_written", str(path))
    text = path.read_text()
    papers = sum(r["paper"] for r in results)
    assert f"| P(paper) per idea | {papers}/{studies} = " in text
    record_property("research_note", f"A/A calibration: the null idea reached the paper in {papers} of {studies} "
                                     f"repetitions; report {path}")
