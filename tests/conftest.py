"""Shared fixtures for the project's own tests: one tokenized corpus per test session
(built once, about 5 s), tiny presets and token budgets, temporary workspaces."""

from __future__ import annotations

import os

# One intra-op thread for the tiny test models: they gain nothing from more, and when
# other processes share the cores OpenMP's spinning threads slow every step tenfold.
# Set before torch is imported here or in any subprocess the tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# The shared helpers in tests/helpers/, loaded once for every test module: the `llm_server`
# and `anthropic_server` fixtures (scripted OpenAI-compatible and Messages API servers) and
# the paper tests' synthetic records. As plugins their asserts are rewritten too.
pytest_plugins = ["helpers.agent_server", "helpers.anthropic_server", "helpers.fixtures_paper"]


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


@pytest.fixture(scope="session")
def require_sandbox():
    """Tests that run model-written code in a real bubblewrap sandbox: skipped where none can
    start (with the reason), failed instead under RESEARCH_REQUIRE_SANDBOX=1 (CI installs
    bubblewrap, so a sandbox that cannot start there is a defect, not a skip)."""
    from research_harness.sandbox import bwrap

    problem = bwrap.probe()
    if problem:
        message = f"no bubblewrap sandbox can start here: {problem}"
        if os.environ.get("RESEARCH_REQUIRE_SANDBOX") == "1":
            pytest.fail(message + " (RESEARCH_REQUIRE_SANDBOX=1)")
        pytest.skip(message)
