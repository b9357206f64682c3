"""Markdown reports, rendered only from stored run records."""
