"""Each built-in idea's measured effect on the default corpus: the catalogue's priors,
measured instead of guessed.

    python benchmarks/idea_effects.py [--preset cpu-small] [--tokens 1000000] [--seeds 50001 50002 50003]
                                      [--ideas cautious z_loss ...] [--out benchmarks/results/idea_effects]

Every idea trains on the same seeds as the unchanged baseline, one run after another in this
process. The seeds (default 50001-50003) are disjoint from every seed the workflow uses (the
gate's 42-1024, the confirmation's 10001-10050, the A/A phase's 100000 onwards): a prior
measured on the study's own seeds would be the study's result, not a prior.

`--write-priors` stores the result as the offline catalogue's priors
(research_harness/agent/measured_priors.json, with each idea's source fingerprint: a prior
is used only while the idea's code is the code measured; research_harness.agent.priors).

Each finished run is appended to ``<out>/runs.jsonl`` at once and never trained again, so a
killed invocation resumes where it stopped. The table (markdown, and ``<out>/effects.json``)
gives per idea the mean paired improvement in nats (control minus experimental: positive
means the idea lowered val_loss; lower val_loss is better), its 95% interval, the same as a
fraction of the baseline's mean loss (the unit of an idea's ``expected_gain``), and Cohen's
d. Three seeds pin an effect down poorly: the figures are priors for planning, not results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_SEEDS = (50_001, 50_002, 50_003)


def workflow_seeds() -> set[int]:
    """Every seed a study, its confirmation or its A/A phase may train (A/A: 100000 onwards)."""
    from research_harness.workspace import BASELINE_SEEDS, CONFIRMATION_SEEDS

    return {*BASELINE_SEEDS, *CONFIRMATION_SEEDS}


def parse(argv: list[str] | None) -> argparse.Namespace:
    from trainer.config import PRESETS, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS),
                        help="trainer preset (default cpu-small, the CPU study's)")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens per run (default 1000000, the "
                                                                      "research scale)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="seeds, each trained by the baseline and by every idea (default 50001 50002 50003)")
    parser.add_argument("--ideas", nargs="+", help="built-in ideas to measure (default: all but calibration ones)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "idea_effects"),
                        help="folder for runs.jsonl (resumable) and effects.json")
    parser.add_argument("--write-priors", action="store_true",
                        help="also store the result as the catalogue's priors "
                             "(research_harness/agent/measured_priors.json); only for the default corpus")
    args = parser.parse_args(argv)
    if args.tokens <= 0:
        parser.error(f"--tokens must be positive, got {args.tokens}")
    try:
        resolve_device(args.device)
    except (ValueError, RuntimeError) as exc:
        parser.error(f"--device: {exc}")
    if len(set(args.seeds)) < 2 or len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds needs at least 2 distinct seeds, got {args.seeds}")
    clash = sorted(set(args.seeds) & workflow_seeds()) + [s for s in args.seeds if s >= 100_000]
    if clash:
        parser.error(f"--seeds {clash} are seeds the workflow itself uses (gate 42-1024, confirmation 10001-10050, "
                     "A/A from 100000); a prior measured on them would be the study's own result. Pick others")
    return args


def measure(args: argparse.Namespace, log=print) -> dict:
    from research_harness import stats
    from trainer.data import prepare_data
    from trainer.ideas import discover_ideas
    from trainer.run import RunOptions, TrainingSession, plan_run

    builtin = Path(ROOT / "trainer" / "ideas").resolve()
    registry = {n: i for n, i in discover_ideas().items()
                if not i.calibration_only and i.source_file and Path(i.source_file).resolve().parent == builtin}
    names = args.ideas or sorted(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise SystemExit(f"unknown idea(s) {unknown}; built-in ideas: {', '.join(sorted(registry))}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    done = {}
    if runs_file.exists():
        for line in runs_file.read_text().splitlines():
            row = json.loads(line)
            done[row["run_key"]] = row
    data = prepare_data(plan_run(args.preset, device=args.device).model_cfg.vocab_size, log=lambda *a: None)
    plans = {name: plan_run(args.preset, train_tokens=args.tokens, flags=[name] if name else None,
                            device=args.device, ideas=registry).bind_data(data) for name in ["", *names]}
    losses: dict[str, dict[int, float]] = {name: {} for name in plans}
    total, started = len(plans) * len(args.seeds), time.perf_counter()
    # Seed-major order: a drift in the host's speed or load touches every arm alike.
    for seed in args.seeds:
        for name, plan in plans.items():
            key = plan.key(seed)
            if key not in done:
                t0 = time.perf_counter()
                record = TrainingSession(plan=plan, log=lambda *a: None).run(seed, RunOptions(quiet=True))
                done[key] = {"run_key": key, "idea": name or "baseline", "seed": seed,
                             "val_loss": record["val_loss"], "seconds": round(time.perf_counter() - t0, 1)}
                with runs_file.open("a") as fh:  # one line per finished run: a kill loses only the run in flight
                    fh.write(json.dumps(done[key]) + "\n")
                n = sum(1 for p in plans.values() for s in args.seeds if p.key(s) in done)
                log(f"[{n}/{total}] {name or 'baseline'} seed {seed}: val_loss {record['val_loss']:.4f} "
                    f"({done[key]['seconds']:.0f} s; {time.perf_counter() - started:.0f} s so far)", flush=True)
            losses[name][seed] = done[key]["val_loss"]
    control = [losses[""][s] for s in args.seeds]
    base_mean = stats.summarize(control).mean
    rows = []
    for name in names:
        exp = [losses[name][s] for s in args.seeds]
        paired = stats.paired_t(control, exp)
        rows.append({"idea": name, "mean_improvement_nats": paired.mean_diff, "ci95": list(paired.ci),
                     "relative": paired.mean_diff / base_mean, "cohens_d": stats.cohens_d(control, exp),
                     "expected_gain_guessed": registry[name].expected_gain, "val_loss": exp})
    from trainer.record import trainer_code_fingerprint

    return {"preset": args.preset, "tokens": args.tokens, "device": args.device, "seeds": list(args.seeds),
            "trainer_fingerprint": trainer_code_fingerprint(),
            "baseline": {"val_loss": control, "mean": base_mean}, "ideas": rows,
            "command": "python benchmarks/idea_effects.py " + " ".join(sys.argv[1:])}


def table(result: dict) -> str:
    from research_harness.gates import format_effect

    lines = [f"Baseline mean val_loss {result['baseline']['mean']:.4f} over seeds "
             f"{', '.join(map(str, result['seeds']))} ({result['preset']}, {result['tokens']:,} tokens, "
             f"{result['device']}). Improvement = control - experimental (positive: lower loss, better).", "",
             "| Idea | Improvement (nats) | 95% CI | Relative | Cohen's d | Guessed expected_gain |",
             "|---|---:|---|---:|---:|---:|"]
    for r in sorted(result["ideas"], key=lambda r: -r["mean_improvement_nats"]):
        lo, hi = r["ci95"]
        lines.append(f"| {r['idea']} | {r['mean_improvement_nats']:+.4f} | [{lo:+.4f}, {hi:+.4f}] | "
                     f"{r['relative']:+.3%} | {format_effect(r['cohens_d'])} | {r['expected_gain_guessed']:+.3%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = measure(args)
    Path(args.out, "effects.json").write_text(json.dumps(result, indent=2))
    print(table(result))
    if args.write_priors:
        from research_harness.agent.priors import MEASURED_FILE, table_from_effects
        from trainer.ideas import discover_ideas

        MEASURED_FILE.write_text(json.dumps(table_from_effects(result, discover_ideas()), indent=2) + "\n")
        print(f"priors written to {MEASURED_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
