"""Tests of research_harness.engine: the study's flow as a state machine over observations.
Each case is one study written by hand (a batch of one), then many drawn at once."""

from __future__ import annotations

import numpy as np
import pytest

from research_harness import engine
from research_harness.calibration import draw_studies, run_studies

NAN = np.nan


def study(ideas: list[tuple[list[float], list[float]]], cols: int = 11):
    """One study: per idea (control, experimental) values for the first columns, NaN after."""
    control = np.full((1, 3, cols), NAN)
    experimental = np.full_like(control, NAN)
    for k, (c, e) in enumerate(ideas):
        control[0, k, :len(c)], experimental[0, k, :len(e)] = c, e
    return control, experimental


C3 = [0.0, 1.0, -1.0]
PROCEED3 = [-1.0, 0.0, -2.0]  # every seed 1 lower: d = 1
NOISE3 = [0.1, 1.1, -0.9]  # every seed 0.1 higher: d < 0
SUGGEST3 = [-0.3, 0.7, -1.3]  # d = 0.3


def test_a_study_with_no_runs_waits_for_the_first_look_of_idea_one():
    step = engine.advance(*study([]), n_confirm=6)
    assert (step.state[0], step.idea[0], step.cols_from[0], step.cols_to[0]) == (engine.WAITING, 0, 0, 3)


def test_noise_moves_to_the_next_idea_and_suggestive_asks_for_seeds_512_and_1024():
    step = engine.advance(*study([(C3, NOISE3)]), n_confirm=6)
    assert (step.state[0], step.idea[0], step.cols_to[0]) == (engine.WAITING, 1, 3)
    step = engine.advance(*study([(C3, NOISE3), (C3, SUGGEST3)]), n_confirm=6)
    assert (step.state[0], step.idea[0], step.cols_from[0], step.cols_to[0]) == (engine.WAITING, 1, 3, 5)


def test_proceed_asks_for_the_fresh_seeds_and_then_decides_on_them_alone():
    step = engine.advance(*study([(C3, PROCEED3)]), n_confirm=6)
    assert (step.state[0], step.idea[0], step.cols_from[0], step.cols_to[0]) == (engine.WAITING, 0, 5, 11)
    assert step.paper_idea[0] == 0 and not step.confirmed[0]
    fresh_c = [0.0, 0.5, -0.5, 1.0, -1.0, 0.2]
    control, experimental = study([(C3 + [NAN, NAN] + fresh_c, PROCEED3 + [NAN, NAN] + [v - 0.3 for v in fresh_c])])
    step = engine.advance(control, experimental, n_confirm=6)
    assert step.state[0] == engine.DONE and step.confirmed[0] and not step.second_look[0, 0]
    experimental[0, 0, 5:] = [v + 0.3 for v in fresh_c]  # fresh seeds all worse: reversed
    step = engine.advance(control, experimental, n_confirm=6)
    assert step.not_confirmed[0] and step.reversed[0] and step.paper_idea[0] == 0
    step = engine.advance(*study([(C3, PROCEED3)]), confirm=False)
    assert step.state[0] == engine.DONE and step.paper_idea[0] == 0 and not step.not_confirmed[0]


def test_three_ideas_that_fail_end_the_study_without_a_paper():
    step = engine.advance(*study([(C3, NOISE3)] * 3), n_confirm=6)
    assert step.state[0] == engine.DONE and step.paper_idea[0] == -1 and step.tried[0].all()


def test_a_batch_mixes_done_and_waiting_studies_and_matches_the_simulation():
    control, experimental = draw_studies(0.5, 2000, rho=0.5, n_fresh=6, seed=7)
    full = run_studies(control, experimental, n_confirm=6)
    hidden = np.array(experimental)
    hidden[::2, :, 5:] = NAN  # half the studies have not run their confirmation yet
    step = engine.advance(control, hidden, n_confirm=6)
    waiting = step.state == engine.WAITING
    assert (waiting == (np.arange(2000) % 2 == 0) & (full["paper_idea"] >= 0)).all()
    assert (step.cols_from[waiting] == 5).all() and (step.idea[waiting] == full["paper_idea"][waiting]).all()
    done = ~waiting
    assert (step.confirmed[done] == full["confirmed"][done]).all() and (step.paper_idea == full["paper_idea"]).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="alike"):
        engine.advance(np.zeros((1, 3, 11)), np.zeros((1, 3, 10)))
    with pytest.raises(ValueError, match="n_confirm"):
        engine.advance(*study([], cols=8), n_confirm=6)  # 3 fresh columns, 6 asked
