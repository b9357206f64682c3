"""Shared fixtures for the project's own tests: one tokenized corpus per test session
(built once, about 5 s), tiny presets and token budgets, temporary workspaces."""

from __future__ import annotations

import os

import pytest



@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A corpus cache for the whole test session; subprocesses find it through RESEARCH_DATA_DIR.
    Set RESEARCH_TEST_DATA_DIR to reuse a cache across test sessions."""
    path = os.environ.get("RESEARCH_TEST_DATA_DIR") or str(tmp_path_factory.mktemp("processed_data"))
    from trainer.data import prepare_data

    prepare_data(4096, cache_dir=path, log=lambda *a: None)
    old = os.environ.get("RESEARCH_DATA_DIR")
    os.environ["RESEARCH_DATA_DIR"] = path
    yield path
    if old is None:
        os.environ.pop("RESEARCH_DATA_DIR", None)
    else:
        os.environ["RESEARCH_DATA_DIR"] = old


@pytest.fixture(scope="session")
def corpus(data_dir):
    from trainer.data import prepare_data

    return prepare_data(4096, cache_dir=data_dir, log=lambda *a: None)
