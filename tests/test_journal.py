"""The research journal shared by two sessions: every read-change-write goes through
`Discovery.editing()`, under the workspace's journal lock, so no session's write is lost."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from research_harness.discovery.study import Discovery
from research_harness.runner import Runner
from research_harness.workspace import Settings, Workspace

CYCLES = 25


def _discovery(root) -> Discovery:
    return Discovery(Runner(Settings(research_dir=root, tokens=3000, preset="tiny", device="cpu"), Workspace(root),
                            log=lambda *a: None))


def _slot(who: int, i: int) -> str:
    return str(100 * who + i + 1)


def _write_many(root, who: int, start) -> None:
    """One session: CYCLES read-change-writes, each adding its own ideation slot and appending
    to a list both sessions extend."""
    disc = _discovery(root)
    start.wait()
    for i in range(CYCLES):
        with disc.editing() as journal:
            journal.ideation[_slot(who, i)] = {"text": f"written by session {who}, cycle {i}"}
            journal.design.setdefault("writes", []).append(_slot(who, i))
            time.sleep(0.002)  # widen the window between the read and the write, as real steps do


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_two_sessions_editing_the_journal_lose_no_write(tmp_path):
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    sessions = [ctx.Process(target=_write_many, args=(tmp_path, who, start)) for who in (0, 1)]
    for p in sessions:
        p.start()
    start.set()
    for p in sessions:
        p.join(timeout=120)
        assert p.exitcode == 0, f"a session failed (exit code {p.exitcode})"
    journal = _discovery(tmp_path).journal()
    expected = {_slot(who, i) for who in (0, 1) for i in range(CYCLES)}
    assert set(journal.ideation) == expected, f"lost writes: slots {sorted(expected - set(journal.ideation), key=int)}"
    assert sorted(journal.design["writes"]) == sorted(expected)
    assert [w for w in journal.design["writes"] if int(w) < 100] == [_slot(0, i) for i in range(CYCLES)]
