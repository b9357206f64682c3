"""What every model is told (research_harness/agent/prompts.py), whichever transport
carries it: needs no client package."""

from __future__ import annotations

from research_harness.agent.prompts import request, retry, system_prompt
from research_harness.agent.wire import TASKS


def test_system_prompts_state_the_reply_shape_and_the_code_rules():
    implement = system_prompt("implement")
    assert "patch_model(model)" in implement and "getattr" in implement and '{"module":' in implement
    assert "IDEA = ZLoss(" in implement  # the accepted example
    assert '"selected"' in system_prompt("review") and '"nats"' in system_prompt("refine")
    assert "3 new research ideas" in system_prompt("propose", n=3)
    # the comparison the model is told of is the registered one (gates.evidence_test): the paired t
    assert "one-sided paired t-test on the per-seed differences" in system_prompt("review")
    assert "Welch" not in system_prompt("review")


def test_a_request_is_the_system_prompt_then_the_inputs():
    for task in TASKS:
        system, user = request(task, {"paper": "# Title", "numbers": {"b": 2, "a": 1}, "error": None}, n=3)
        assert system == {"role": "system", "content": system_prompt(task, n=3)}
        assert system["content"].split("\n", 1)[0] == f"task: {task}"
        # strings as text, the rest as sorted JSON, None left out: equal inputs give equal requests
        assert user == {"role": "user", "content": '## paper\n# Title\n\n## numbers\n{\n  "a": 1,\n  "b": 2\n}'}


def test_a_retry_appends_the_bad_reply_and_the_error():
    first = request("refine", {"idea": "x"})
    again = retry(first, None, "the reply was empty; reply with one JSON object")
    assert again[:2] == first and again[2] == {"role": "assistant", "content": ""}
    assert again[3]["role"] == "user" and again[3]["content"].startswith(
        "Your reply could not be used: the reply was empty; reply with one JSON object. Reply again")
