"""Test helpers, not tests: the scripted LLM servers (`llm_server`, `anthropic_server`
fixtures), one good reply per agent task and the paper tests' synthetic records. Registered once, as plugins, in tests/conftest.py (tests/ is on
sys.path through pyproject's `pythonpath`), so a test module just imports what it uses:
`from helpers.agent_server import Status`."""
