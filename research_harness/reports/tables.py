"""Markdown tables from the runs DataFrame (or from rows), one formatting path."""

from __future__ import annotations

import math

import pandas as pd


def _cell(value, fmt: str | None) -> str:
    if value is None or isinstance(value, float) and math.isnan(value):
        return "n/a"
    if fmt and isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value).replace("|", "/").replace("\n", " ")


def md_table(data, formats: dict[str, str] | None = None, header: list[str] | None = None) -> str:
    """A markdown table of a DataFrame (its columns, formatted by `formats`) or of row tuples."""
    formats = formats or {}
    if isinstance(data, pd.DataFrame):
        columns = [str(c) for c in data.columns]
        rows = [[_cell(v, formats.get(c)) for c, v in zip(columns, row)] for row in data.itertuples(index=False)]
    else:
        columns = header or []
        rows = [[_cell(v, None) for v in row] for row in data]
    header = header or columns
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
                      *("| " + " | ".join(r) + " |" for r in rows)])
