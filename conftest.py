"""Root conftest. The research_harness plugin itself arrives through its pytest11
entry point (pip install -e .), so nothing is registered here; this file only pins the
rootdir, which is the default research workspace (docs/research, runs, checkpoints)."""

# The project's own tests drive the plugin with pytest's pytester.
pytest_plugins = ["pytester"]
