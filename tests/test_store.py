"""The run store: atomic JSON records keyed by run identity, never silently overwritten,
corrupt records named with the fix; Hypothesis round-trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research_harness.store import RunStore, StoreError, validate_record
from research_harness.workspace import token_label


def record(key="abc123", val_loss=4.5, **extra):
    return {"run_key": key, "seed": 42, "status": "finished", "val_loss": val_loss, "wall_time": {"total_s": 1.0},
            "config": {"preset": "tiny"}, **extra}


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
    assert validate_record(record("k"), "k") is None


@pytest.mark.parametrize("tokens, label", [(1_000_000, "1M"), (100_000, "100k"), (20_000, "20k"), (3000, "3k"),
                                           (1500, "1500"), (2_000_000, "2M")])
def test_token_labels_name_files_as_the_seed_does(tokens, label):
    assert token_label(tokens) == label
