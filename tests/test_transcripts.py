"""The transcript store (research_harness/agent/transcripts.py): one JSON file per model
request, named by the hash of what decides the reply, written atomically and checked on
read. Needs no client package, so it runs without any extra."""

from __future__ import annotations

import json

import pytest

from research_harness.agent.transcripts import HASH_CHARS, TranscriptError, TranscriptStore, transcript_hash

MODEL = "scripted-model"
MESSAGES = [{"role": "system", "content": "task: review"}, {"role": "user", "content": "x"}]


def test_transcripts_are_written_atomically_and_checked_on_read(tmp_path):
    store = TranscriptStore(tmp_path)
    record = store.put(task="review", model=MODEL, base_url="http://h/v1", messages=MESSAGES, raw="{}")
    assert [p.name for p in tmp_path.iterdir()] == [f"{record['hash']}.json"]  # no temp file left
    assert len(record["hash"]) == HASH_CHARS and store.get("review", MODEL, MESSAGES)["reply"]["raw"] == "{}"
    assert store.get("review", "other-model", MESSAGES) is None
    path = store.path(record["hash"])
    path.write_text(path.read_text().replace('"content": "x"', '"content": "edited"'))
    with pytest.raises(TranscriptError, match="was edited.*delete it to ask the model again"):
        store.get("review", MODEL, MESSAGES)


def test_the_name_is_the_hash_of_task_model_and_messages_only(tmp_path):
    store = TranscriptStore(tmp_path)
    a = store.put(task="review", model=MODEL, base_url="http://one/v1", messages=MESSAGES, raw="{}", latency_s=1.0)
    b = store.put(task="review", model=MODEL, base_url="http://two/v1", messages=MESSAGES, raw="{}", latency_s=2.0)
    assert a["hash"] == b["hash"] == transcript_hash("review", MODEL, MESSAGES)  # not the endpoint nor the time
    assert len({transcript_hash("review", MODEL, MESSAGES), transcript_hash("refine", MODEL, MESSAGES),
                transcript_hash("review", "other", MESSAGES), transcript_hash("review", MODEL, MESSAGES[:1])}) == 4


def test_a_file_not_holding_its_named_request_or_unreadable_is_refused(tmp_path):
    store = TranscriptStore(tmp_path)
    record = store.put(task="review", model=MODEL, base_url="http://h/v1", messages=MESSAGES, raw="{}")
    path = store.path(record["hash"])
    path.write_text(json.dumps({**record, "hash": "0" * HASH_CHARS}))  # copied under another name
    with pytest.raises(TranscriptError, match="does not hold the request its name says"):
        store.get("review", MODEL, MESSAGES)
    path.write_text('{"hash": ')  # cut short
    with pytest.raises(TranscriptError, match="unreadable.*delete it to ask the model again"):
        store.all()


def test_all_lists_every_transcript_oldest_first(tmp_path):
    assert TranscriptStore(tmp_path / "absent").all() == []
    store = TranscriptStore(tmp_path)
    first = store.put(task="review", model=MODEL, base_url="u", messages=MESSAGES, raw="1")
    second = store.put(task="refine", model=MODEL, base_url="u", messages=MESSAGES, raw="2")
    for rec, created in ((first, "2026-01-02T00:00:00+00:00"), (second, "2026-01-01T00:00:00+00:00")):
        store.path(rec["hash"]).write_text(json.dumps({**rec, "created": created}))
    assert [r["reply"]["raw"] for r in store.all()] == ["2", "1"]
