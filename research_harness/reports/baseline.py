"""docs/research/baseline_variance_<label>.md in the workflow's exact table format,
followed by per-seed values and the context a reader needs; plus its parser, kept beside
the renderer so the format lives in one place. Both are pure: text in or text out.
Whether an existing report may be reused is the workflow's question (research_harness.baseline)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from research_harness.facts import run_facts
from research_harness.frame import records_frame
from research_harness.reports.tables import md_table
from research_harness.stats import prediction_interval, prob_within_k_sigma, summarize
from research_harness.workspace import Settings, seed_order


@dataclass
class BaselineReport:
    seeds: list[int]
    val_loss: dict[int, float]
    wall_time: dict[int, float]
    run_keys: dict[int, str]


def render(records: list[dict], settings: Settings) -> str:
    records = sorted(records, key=lambda r: seed_order(r["seed"]))
    seeds = [r["seed"] for r in records]
    losses = [r["val_loss"] for r in records]
    walls = [r["wall_time"]["total_s"] for r in records]
    vl, wt = summarize(losses), summarize(walls)
    pi = prediction_interval(losses)
    first = records[0]
    lines = [
        f"# Baseline Variance Report: {settings.label} Tokens",
        "| Metric | Mean | Std | Min | Max |",
        "|--------|------|-----|-----|-----|",
        f"| val_loss | {vl.mean:.4f} | {vl.std:.4f} | {vl.min:.4f} | {vl.max:.4f} |",
        f"| wall_time (s) | {wt.mean:.2f} | {wt.std:.2f} | {wt.min:.2f} | {wt.max:.2f} |",
        "",
        f"Seeds used: {', '.join(map(str, seeds))}",
        "",
    ]
    if not settings.research_scale:
        lines += [settings.scale_note(), ""]
    frame = records_frame(records).assign(run_record=lambda f: "`" + f["run_key"] + "`")
    per_seed = frame[["seed", "val_loss", "val_accuracy", "wall_total_s", "tokens_per_s", "run_record"]]
    facts = run_facts(records)
    timing = ("runs were sequential (no two overlapped in time)" if facts.sequential else
              f"{facts.overlapping_pairs} pair(s) of runs overlapped in time, so these wall times are not comparable")
    lines += [
        "## Per-seed values",
        "",
        md_table(per_seed, {"val_loss": ".4f", "val_accuracy": ".4f", "wall_total_s": ".2f", "tokens_per_s": ",.0f"},
                 header=["Seed", "val_loss", "val_accuracy", "wall_time (s)", "tokens/s", "run record"]),
    ]
    lines += [
        "",
        "## Setup",
        "",
        f"- Preset: {first['preset']} ({first['params']['total']:,} parameters)",
        f"- Token budget: {first['train_tokens']:,} tokens per run",
        f"- Device: {', '.join(facts.device_names)} ({first['device']['type']}), torch {first['device']['torch']}",
        f"- Data: {first['data']['source']} ({first['data']['train_tokens']:,} train / {first['data']['val_tokens']:,} "
        f"validation tokens, BPE vocab {first['data']['vocab_size']})",
        f"- Code fingerprint: `{first['code_fingerprint']}`; data fingerprint: `{first['data']['fingerprint']}`",
        "- The seed sets both weight initialisation and data order (the source project seeded only the data order).",
        "",
        "## What this noise floor means",
        "",
        f"- 95% prediction interval for one new baseline run: [{pi[0]:.4f}, {pi[1]:.4f}] (lower val_loss is better).",
        f"- With mean and sigma from {len(records)} seeds, a fresh run of unchanged code lands within 1 sigma only "
        f"about {100 * prob_within_k_sigma(len(records), 1.0):.0f}% of the time (t distribution, n-1 = {len(records) - 1}).",
        f"- wall_time is setup + training + evaluation of one run; {timing}.",
        "",
    ]
    return "\n".join(lines)


_ROW = re.compile(r"^\|\s*(?P<seed>\d+)\s*\|\s*(?P<loss>[-\d.]+)\s*\|\s*[-\d.]+\s*\|\s*(?P<wall>[-\d.]+)\s*\|[^|]*\|\s*`(?P<key>\w+)`\s*\|", re.M)


def parse(text: str) -> BaselineReport:
    """Read a report's text back; raises ValueError saying what is wrong with it."""
    if not re.search(r"^\| val_loss \| [-\d.]+ \| [-\d.]+ \| [-\d.]+ \| [-\d.]+ \|$", text, re.M):
        raise ValueError("no numeric val_loss row in the workflow's table format")
    m = re.search(r"^Seeds used: ([\d, ]+)$", text, re.M)
    if not m:
        raise ValueError("no 'Seeds used:' line")
    seeds = [int(s) for s in m.group(1).split(",") if s.strip()]
    rows = {int(r["seed"]): r for r in _ROW.finditer(text)}
    if sorted(rows) != sorted(seeds):
        raise ValueError(f"per-seed rows {sorted(rows)} do not match 'Seeds used' {seeds}")
    return BaselineReport(seeds, {s: float(rows[s]["loss"]) for s in seeds},
                          {s: float(rows[s]["wall"]) for s in seeds}, {s: rows[s]["key"] for s in seeds})
