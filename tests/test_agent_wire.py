"""The validation of a research agent's replies (research_harness/agent/wire.py), run on the
reply text alone: no client and no optional extra is needed."""

from __future__ import annotations

import json

import pytest

from helpers.agent_replies import PROPOSAL, SECOND
from research_harness.agent.wire import ReplyShapeError, parse_reply

THIRD = {**PROPOSAL, "name": "layer_scale", "category": "normalization", "title": "Layer scale"}
FOURTH = {**PROPOSAL, "name": "z_loss", "category": "training-dynamics", "title": "z-loss"}


def propose(ideas, **expect) -> dict:
    return parse_reply("propose", json.dumps({"ideas": ideas}), **expect)


def test_a_reply_with_more_ideas_than_asked_is_cut_to_the_number_asked():
    # docs/AGENT.md: "Replies with more ideas than asked are cut to `n`" (the first n, in the reply's order).
    assert propose([PROPOSAL, SECOND, THIRD], n=2)["ideas"] == [PROPOSAL, SECOND]
    assert propose([PROPOSAL, SECOND, THIRD], n=1)["ideas"] == [PROPOSAL]
    assert propose([PROPOSAL, SECOND], n=3)["ideas"] == [PROPOSAL, SECOND]  # fewer than asked is kept whole


def test_the_cut_counts_only_ideas_not_already_tried():
    parsed = propose([FOURTH, PROPOSAL, SECOND, THIRD], tried=["z_loss"], n=2)
    assert parsed["ideas"] == [PROPOSAL, SECOND] and parsed["dropped"] == ["z_loss"]


def test_a_propose_reply_of_the_wrong_shape_is_refused_with_the_field_named():
    with pytest.raises(ReplyShapeError, match="non-empty array"):
        propose([], n=2)
    with pytest.raises(ReplyShapeError, match="share the name 'qk_clip'"):
        propose([PROPOSAL, PROPOSAL], n=2)
    with pytest.raises(ReplyShapeError, match=r"ideas\[1\]\.name"):
        propose([PROPOSAL, {**SECOND, "name": "Not-An-Identifier"}], n=2)
