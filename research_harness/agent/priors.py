"""The catalogue's prior for an idea's effect on val_loss.

A built-in idea's prior is what `benchmarks/idea_effects.py` measured on the default corpus
(`measured_priors.json`, written by its `--write-priors`), as long as that measurement is of
the idea's present code: the file keeps each idea's source fingerprint (comments and
docstrings excluded), and an idea whose code changed since falls back to its own
`expected_gain`, its author's guess. So does every idea the benchmark never measured (a
researcher's, a model-written one). The measurement's seeds are disjoint from every seed a
study trains, so a prior is never the study's own result; on other data or another preset
it is only a prior, and the words say so.

`relative` is signed, as a fraction of the baseline's mean val_loss: positive means the idea
lowered val_loss (better), negative that it raised it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from trainer.record import source_fingerprint

MEASURED_FILE = Path(__file__).with_name("measured_priors.json")


@dataclass(frozen=True)
class Prior:
    relative: float  # expected improvement / baseline mean val_loss; > 0: lower val_loss, better
    measured: bool
    source: str  # a clause for the idea log: where the number comes from


def measurements() -> dict:
    """The stored measurements ({} when the file is absent)."""
    return _read(MEASURED_FILE)


@functools.cache
def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    table = json.loads(path.read_text(encoding="utf-8"))
    missing = {"preset", "tokens", "seeds", "ideas"} - set(table)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}; regenerate it with "
                         "`python benchmarks/idea_effects.py --write-priors`")
    return table


def idea_fingerprint(idea) -> str | None:
    """The idea's own source, as the run key sees it (None without a readable file)."""
    path = Path(idea.source_file) if getattr(idea, "source_file", None) else None
    return source_fingerprint([path]) if path is not None and path.is_file() else None


def prior(idea, table: dict | None = None) -> Prior:
    """The measured prior of `idea` when `table` (default: the stored file) holds one of its
    present code, else its expected_gain."""
    table = measurements() if table is None else table
    row = (table.get("ideas") or {}).get(idea.name)
    if row is not None and row.get("source_fingerprint") == idea_fingerprint(idea):
        lo, hi = row["ci95_relative"]
        return Prior(float(row["relative"]), True,
                     f"prior measured on the default corpus, {table['preset']} at {table['tokens']:,} tokens, "
                     f"95% CI [{lo:+.2%}, {hi:+.2%}]; on other data it is only a prior")
    why = "its code changed since it was measured" if row is not None else "not measured"
    return Prior(float(idea.expected_gain), False, f"the idea's own guess, {why}")


def table_from_effects(effects: dict, ideas: dict) -> dict:
    """The stored form of `benchmarks/idea_effects.py`'s result: per idea its relative
    improvement, the interval in the same unit, and the fingerprint of the code measured."""
    base = effects["baseline"]["mean"]
    rows = {}
    for r in effects["ideas"]:
        lo, hi = r["ci95"]
        rows[r["idea"]] = {"relative": r["relative"], "ci95_relative": [lo / base, hi / base],
                           "nats": r["mean_improvement_nats"], "cohens_d": r["cohens_d"],
                           "source_fingerprint": idea_fingerprint(ideas[r["idea"]])}
    return {"preset": effects["preset"], "tokens": effects["tokens"], "device": effects["device"],
            "seeds": effects["seeds"], "baseline_mean": base, "trainer_fingerprint": effects.get("trainer_fingerprint"),
            "command": effects["command"], "ideas": rows}
