"""research_harness: the research workflow as a pytest plugin. Importing the package is
cheap (the plugin loads in every pytest session); `runs_frame` loads pandas on first use."""

__all__ = ["runs_frame"]


def __getattr__(name: str):
    if name == "runs_frame":
        from research_harness.frame import runs_frame  # noqa: PLC0415

        return runs_frame
    raise AttributeError(f"module 'research_harness' has no attribute {name!r}")
