"""The run store: validated atomic JSON records keyed by run identity, never silently
overwritten, corrupt records named with the fix; Hypothesis round-trips; the runs
DataFrame and the command that prints it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.fixtures_paper import make_record
from research_harness import runs_frame
from research_harness.store import RunStore, StoreError
from research_harness.workspace import token_label
from trainer.record import RECORD_SCHEMA, record_problem


def record(key="abc123", val_loss=4.5, **extra):
    rec = make_record(42, val_loss)
    rec.pop("record_path")
    rec.update(run_key=key, **extra)
    return rec


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
json_values = st.recursive(st.none() | st.booleans() | finite | st.integers(-10**9, 10**9) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(key=st.from_regex(r"[0-9a-f]{20}", fullmatch=True), val_loss=finite,
       extra=st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in record()), json_values, max_size=5))
def test_put_then_get_round_trips(tmp_path_factory, key, val_loss, extra):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    stored = store.put(record(key, val_loss, **extra))
    got = store.get(key)
    assert got == stored and got["val_loss"] == val_loss
    assert not list(store.root.glob(".*.tmp"))  # the atomic write leaves no temporary file


def test_get_of_a_missing_key_is_none(tmp_path):
    assert RunStore(tmp_path).get("nothere") is None


def test_a_stored_run_is_never_overwritten(tmp_path):
    store = RunStore(tmp_path)
    store.put(record("k1", 4.0))
    with pytest.raises(StoreError, match="refusing to overwrite"):
        store.put(record("k1", 3.0))
    assert store.get("k1")["val_loss"] == 4.0


def test_extra_fields_can_rekey_a_record(tmp_path):
    store = RunStore(tmp_path)
    store.put(record("trainer_key"), run_key="harness_key", arm="verify")
    assert store.get("harness_key")["arm"] == "verify" and store.get("trainer_key") is None


@pytest.mark.parametrize("change, reason", [
    (lambda r: r.pop("seed"), "missing field 'seed'"),
    (lambda r: r.update(seed="42"), "field 'seed' is str, expected int"),
    (lambda r: r.update(val_loss=True), "field 'val_loss' is bool"),
    (lambda r: r.update(schema=RECORD_SCHEMA - 1), "is not the current schema"),
    (lambda r: r.update(status="failed"), "status is 'failed'"),
    (lambda r: r.update(val_loss=float("inf")), "val_loss is inf"),
    (lambda r: r["wall_time"].pop("train_s"), "wall_time lacks"),
])
def test_records_are_validated_where_they_enter_the_store(tmp_path, change, reason):
    rec = record("k")
    change(rec)
    assert reason in record_problem(rec)
    with pytest.raises(StoreError, match="refusing to store"):
        RunStore(tmp_path).put(rec)
    assert not RunStore(tmp_path).path_for("k").exists()


@pytest.mark.parametrize("text, reason", [
    ("{ not json", "cannot be read"),
    (json.dumps(record("k", float("nan"))), "val_loss is nan"),
    (json.dumps({**record("k"), "status": "failed"}), "status is 'failed'"),
    (json.dumps({k: v for k, v in record("k").items() if k != "seed"}), "missing field 'seed'"),
    (json.dumps(record("other")), "does not match the file name"),
])
def test_bad_records_are_named_and_left_untouched(tmp_path, text, reason):
    store = RunStore(tmp_path)
    store.path_for("k").write_text(text)
    with pytest.raises(StoreError, match=reason) as info:
        store.get("k")
    assert str(store.path_for("k")) in str(info.value) and "delete it to retrain" in str(info.value)
    assert store.path_for("k").read_text() == text


def test_validate_accepts_a_good_record():
    assert record_problem(record("k"), "k") is None


@pytest.mark.parametrize("tokens, label", [(1_000_000, "1M"), (100_000, "100k"), (20_000, "20k"), (3000, "3k"),
                                           (1500, "1500"), (2_000_000, "2M")])
def test_token_labels_name_files_as_the_seed_does(tokens, label):
    assert token_label(tokens) == label


def _store_three(root):
    store = RunStore(root / "runs")
    store.put(record("b42", 4.50, arm="baseline", started="2026-11-26T10:00:00+00:00"))
    store.put({**record("z137", 4.52, arm="baseline", started="2026-11-26T09:00:00+00:00"), "seed": 137})
    store.put(record("e42", 4.40, arm="exp", flags=["z_loss"], started="2026-11-26T11:00:00+00:00"))
    (root / "runs" / "broken.json").write_text("{")  # left out of the frame, never deleted


def test_runs_frame_has_one_row_per_stored_run(tmp_path):
    _store_three(tmp_path)
    frame = runs_frame(tmp_path)
    assert list(frame["run_key"]) == ["z137", "b42", "e42"]  # ordered by start time, not by file name
    assert list(frame["seed"]) == [137, 42, 42] and list(frame["flags"]) == ["", "", "z_loss"]
    assert frame.loc[2, "arm"] == "exp" and frame.loc[2, "val_loss"] == 4.40
    for column in ("tokens", "tokens_per_s", "wall_total_s", "train_s", "eval_s", "device", "code_fingerprint",
                   "started", "finished"):
        assert column in frame.columns and frame[column].notna().all(), column
    assert str(frame["started"].dtype).startswith("datetime64")


def test_runs_command_prints_the_stored_runs(tmp_path):
    _store_three(tmp_path)
    out = subprocess.run([sys.executable, "-m", "research_harness", "runs", "--research-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "z137" in out.stdout and "z_loss" in out.stdout and "3 run(s)" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "research_harness", "runs", "--research-dir", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "is not a directory" in bad.stderr
