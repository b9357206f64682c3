#!/usr/bin/env python3
"""Gate calibration: how often the research workflow writes a paper, and how often its
paper's claim is confirmed, at true effects of 0, 0.2, 0.5, 1 and 2 baseline sigmas.

    python benchmarks/gate_calibration.py                    # both modes, 200,000 studies per row
    python benchmarks/gate_calibration.py --confirm --rho 0  # confirm mode only, independent arms
    python benchmarks/gate_calibration.py --json             # one JSON object keyed by effect

The simulation (research_harness.calibration) runs the workflow's own decision and
evidence code on simulated studies of up to 3 ideas sharing one baseline. At effect 0
the P(confirmed) columns are the false-claim rates (the goal: at most 5% per study);
at effect > 0 "power" is the probability that one idea's improvement is confirmed."""

from __future__ import annotations

import argparse
import json
import sys
import time

from research_harness.calibration import simulate_studies
from research_harness.gates import SEED_SEQUENCE
from research_harness.workspace import BASELINE_SEEDS

EFFECTS = (0.0, 0.2, 0.5, 1.0, 2.0)
REPORTED = ("p_paper_per_idea", "p_paper", "p_confirmed_per_idea", "p_confirmed", "mean_experimental_runs",
            "mean_extra_control_runs")


def _studies(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of studies, got {value}")
    return value


def _rho(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _max_seeds(text: str) -> int:
    value = int(text)
    if not len(BASELINE_SEEDS) <= value <= len(SEED_SEQUENCE):
        raise argparse.ArgumentTypeError(f"must be in [{len(BASELINE_SEEDS)}, {len(SEED_SEQUENCE)}], got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=_studies, default=200_000, help="simulated studies per effect and mode "
                        "(default 200000)")
    parser.add_argument("--rho", type=_rho, default=0.5, help="between-arm correlation from shared seeds, in [0, 1) "
                        "(default 0.5)")
    parser.add_argument("--confirm", action="store_true", help="confirm mode only (default: both modes)")
    parser.add_argument("--max-seeds", type=_max_seeds, default=10, help="most seeds per arm a confirmation look may "
                        f"use, in [{len(BASELINE_SEEDS)}, {len(SEED_SEQUENCE)}] (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulation (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by effect instead of tables")
    return parser.parse_args(argv)


def _table(title: str, rows: dict[str, dict]) -> list[str]:
    lines = [title, "",
             "| effect (sigma) | P(paper) per idea | P(paper) per study | P(confirmed) per idea | "
             "P(confirmed) per study | power | experimental runs / study | extra control runs / study |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for effect, r in rows.items():
        cells = [effect, *(f"{r[key]:.2%}" for key in ("p_paper_per_idea", "p_paper", "p_confirmed_per_idea",
                                                        "p_confirmed", "p_confirmed_per_idea")),
                 f"{r['mean_experimental_runs']:.2f}", f"{r['mean_extra_control_runs']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    modes = (True,) if args.confirm else (False, True)
    results = {mode: {f"{effect:g}": simulate_studies(effect, args.studies, confirm=mode, rho=args.rho,
                                                      max_seeds=args.max_seeds, seed=args.seed)
                      for effect in EFFECTS}
               for mode in modes}
    took = time.perf_counter() - start
    if args.json:
        out = {}
        for effect in results[True]:
            entry = {key: results[False][effect][key] for key in REPORTED} if False in results else {}
            entry["confirm"] = {key: results[True][effect][key] for key in REPORTED}
            out[effect] = entry
        print(json.dumps(out, indent=2))
        print(f"took {took:.1f} s", file=sys.stderr)
        return 0
    print(f"Gate calibration: {args.studies:,} simulated studies per row, between-arm correlation rho = {args.rho:g}, "
          f"confirmation looks up to {args.max_seeds} seeds per arm, seed {args.seed}. A study tries up to 3 ideas "
          "with the same true effect and stops at the first paper; power = P(confirmed) per idea.\n")
    titles = {False: "default mode (looks at 3 and 5 seeds; alpha split 1/2, 1/2)",
              True: "confirm mode (looks at 3, 5 and a confirmation seed count; alpha split 1/4, 1/4, 1/2)"}
    for mode in modes:
        print("\n".join(_table(titles[mode], results[mode])))
    print(f"took {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
