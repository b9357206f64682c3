#!/usr/bin/env python3
"""Gate calibration: how often the research workflow's gate proceeds, and how often the
idea it picked is then confirmed on fresh seeds, at true effects of 0, 0.2, 0.5, 1 and 2
baseline sigmas.

    python benchmarks/gate_calibration.py                       # both modes, 200,000 studies per row
    python benchmarks/gate_calibration.py --no-confirm --rho 0  # the workflow's budget only, independent arms
    python benchmarks/gate_calibration.py --json                # one JSON object: the default mode's
                                                                # figures per effect, the old mode under no_confirm

The simulation (research_harness.calibration) runs the workflow's decision code on
simulated studies of up to 3 ideas sharing one baseline; by default the idea that
proceeds is confirmed on fresh seeds, as many as the workflow would fix beforehand for
the planned effect (default: the catalogue's prior, not the true effect). At effect 0
P(confirmed) is the false-claim rate (the goal: at most 5% per study); at effect > 0 it
is the power of the whole study."""

from __future__ import annotations

import argparse
import json
import sys
import time

from research_harness.calibration import PRIOR_SIGMAS, REFERENCE_BASELINE, simulate_studies
from research_harness.workspace import CONFIRMATION_SEEDS, MAX_CONFIRM_SEEDS, MIN_CONFIRM_SEEDS

EFFECTS = (0.0, 0.2, 0.5, 1.0, 2.0)
REPORTED = ("p_paper_per_idea", "p_paper", "p_confirmed_per_idea", "p_confirmed", "p_not_confirmed", "p_reversed",
            "mean_gate_d_of_papers", "mean_fresh_d_of_papers", "mean_experimental_runs", "mean_extra_control_runs")


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


def _max_confirm_seeds(text: str) -> int:
    value = int(text)
    if not MIN_CONFIRM_SEEDS <= value <= len(CONFIRMATION_SEEDS):
        raise argparse.ArgumentTypeError(f"must be in [{MIN_CONFIRM_SEEDS}, {len(CONFIRMATION_SEEDS)}], got {value}")
    return value


def _sigmas(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive effect in baseline sigmas, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=_studies, default=200_000, help="simulated studies per effect and mode "
                        "(default 200000)")
    parser.add_argument("--rho", type=_rho, default=0.5, help="between-arm correlation from shared seeds, in [0, 1) "
                        "(default 0.5)")
    parser.add_argument("--no-confirm", action="store_true", help="the workflow's budget only, no confirmation "
                        "(default: both modes)")
    parser.add_argument("--max-confirm-seeds", type=_max_confirm_seeds, default=MAX_CONFIRM_SEEDS,
                        help=f"most fresh seeds per arm a confirmation may use, in [{MIN_CONFIRM_SEEDS}, "
                             f"{len(CONFIRMATION_SEEDS)}] (default {MAX_CONFIRM_SEEDS})")
    parser.add_argument("--planned-sigmas", type=_sigmas, default=PRIOR_SIGMAS,
                        help="the planned effect the confirmation is sized for, in baseline sigmas (default "
                             f"{PRIOR_SIGMAS:.3g}: the catalogue's default prior at the measured CPU baseline)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulation (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return parser.parse_args(argv)


def _pct(x: float) -> str:
    return f"{x:.2%}"


def _table(title: str, rows: dict[str, dict]) -> list[str]:
    lines = [title, "",
             "| effect (sigma) | P(paper) per idea | P(paper) per study | P(confirmed) per idea | "
             "P(confirmed) per study | P(not confirmed) | P(reversed) | mean gate d of papers | "
             "mean fresh d | experimental runs / study | extra control runs / study |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for effect, r in rows.items():
        cells = [effect, *(_pct(r[key]) for key in ("p_paper_per_idea", "p_paper", "p_confirmed_per_idea",
                                                    "p_confirmed", "p_not_confirmed", "p_reversed")),
                 f"{r['mean_gate_d_of_papers']:.2f}", f"{r['mean_fresh_d_of_papers']:.2f}",
                 f"{r['mean_experimental_runs']:.2f}", f"{r['mean_extra_control_runs']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    modes = (False,) if args.no_confirm else (True, False)
    results = {mode: {f"{effect:g}": simulate_studies(effect, args.studies, confirm=mode, rho=args.rho,
                                                      planned_sigmas=args.planned_sigmas,
                                                      max_confirm_seeds=args.max_confirm_seeds, seed=args.seed)
                      for effect in EFFECTS}
               for mode in modes}
    took = time.perf_counter() - start
    first = next(iter(results[modes[0]].values()))
    design = {"confirm": modes[0], "studies": args.studies, "rho": args.rho, "seed": args.seed,
              "planned_sigmas": args.planned_sigmas, "n_confirm": first["n_confirm"],
              "max_confirm_seeds": args.max_confirm_seeds,
              "planned_from": ("the catalogue's default prior (expected_gain 0.005 of the baseline loss) at the "
                               f"measured CPU baseline {REFERENCE_BASELINE[0]} +- {REFERENCE_BASELINE[1]}"
                               if args.planned_sigmas == PRIOR_SIGMAS else "--planned-sigmas")}
    if args.json:
        out: dict = {"design": design}
        for effect, row in results[modes[0]].items():
            entry = {key: row[key] for key in REPORTED}
            if modes[0] and False in results:
                entry["no_confirm"] = {key: results[False][effect][key] for key in REPORTED}
            out[effect] = entry
        print(json.dumps(out, indent=2))
        print(f"took {took:.1f} s", file=sys.stderr)
        return 0
    print(f"Gate calibration: {args.studies:,} simulated studies per row, between-arm correlation rho = {args.rho:g}, "
          f"seed {args.seed}. A study tries up to 3 ideas with the same true effect and stops at the first whose gate "
          "proceeds.\n")
    titles = {True: (f"default: confirmation on {first['n_confirm']} fresh seeds per arm (sized for a planned "
                     f"{args.planned_sigmas:.3g} sigma, {design['planned_from']}); one-sided paired t at alpha 0.05"),
              False: "--research-no-confirm: the workflow's budget (3, then 5 seeds); nothing is confirmed"}
    for mode in modes:
        print("\n".join(_table(titles[mode], results[mode])))
    print(f"took {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
