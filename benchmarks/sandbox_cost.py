"""What the sandbox costs: the same idea's runs trained in this process and in the bubblewrap
sandbox (start-up, import, training, export, and this process's evaluation of the export),
alternating, in one invocation, so the ratio is measured under the same load.

    python benchmarks/sandbox_cost.py [--preset cpu-small] [--tokens 1000000] [--seeds 42 137]
                                      [--json out.json]

The idea is the built-in z-loss, copied once as a researcher's module (trusted: trains
here) and once into a `generated/` folder (model-written: trains in the sandbox); both
modules are the same code, so on a CPU both paths must give the same val_loss bit for bit,
which the script checks and prints."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-small", help="trainer preset (default cpu-small)")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens per run (default 1000000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 137], help="seeds, each run both ways")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.tokens <= 0:
        parser.error(f"--tokens must be positive, got {args.tokens}")

    import torch

    from research_harness.sandbox import bwrap, jobs
    from trainer.data import prepare_data
    from trainer.run import RunOptions, TrainingSession, plan_run

    problem = bwrap.probe()
    if problem:
        print(f"no sandbox can start here: {problem}", file=sys.stderr)
        return 2
    source = (ROOT / "trainer" / "ideas" / "z_loss.py").read_text().replace('name="z_loss"', 'name="zl_bench"')
    work = Path(tempfile.mkdtemp(prefix="sandbox-cost-"))
    (work / "trusted").mkdir()
    (work / "generated").mkdir()
    (work / "trusted" / "zl_bench.py").write_text(source)
    (work / "generated" / "zl_bench.py").write_text(source)
    probe_plan = plan_run(args.preset, device=args.device)
    data = prepare_data(probe_plan.model_cfg.vocab_size, log=lambda *a: None)
    threads = torch.get_num_threads()
    rows = []
    for seed in args.seeds:
        for where in ("in-process", "sandbox"):
            t0 = time.perf_counter()
            if where == "in-process":
                plan = plan_run(args.preset, train_tokens=args.tokens, flags=["zl_bench"], device=args.device,
                                idea_dirs=[work / "trusted"]).bind_data(data)
                record = TrainingSession(plan=plan, log=lambda *a: None).run(seed, RunOptions(quiet=True))
            else:
                plan = plan_run(args.preset, train_tokens=args.tokens, flags=["zl_bench"], device=args.device,
                                untrusted_dirs=[work / "generated"], configured={"zl_bench": {}}).bind_data(data)
                record = jobs.train(plan, seed, workspace=work, mode="bwrap", threads=threads)
            seconds = time.perf_counter() - t0
            row = {"seed": seed, "where": where, "seconds": round(seconds, 2), "val_loss": record["val_loss"],
                   "train_s": round(record["wall_time"]["train_s"], 2)}
            if where == "sandbox":
                row["child_s"] = record["sandbox"]["seconds"]
                row["parent_evaluation_s"] = record["sandbox"]["evaluation_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    here = [r["seconds"] for r in rows if r["where"] == "in-process"]
    there = [r["seconds"] for r in rows if r["where"] == "sandbox"]
    same = all(a["val_loss"] == b["val_loss"] for a, b in zip(rows[::2], rows[1::2]))
    summary = {"device": args.device, "preset": args.preset, "tokens": args.tokens, "threads": threads,
               "median_in_process_s": statistics.median(here), "median_sandbox_s": statistics.median(there),
               "ratio_sandbox_over_in_process": round(statistics.median(there) / statistics.median(here), 3),
               "val_loss_identical": same, "runs": rows}
    print(f"in-process {summary['median_in_process_s']:.1f} s, sandbox {summary['median_sandbox_s']:.1f} s per run "
          f"(median): ratio {summary['ratio_sandbox_over_in_process']:.2f}; val_loss identical: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0 if same or args.device != "cpu" else 1


if __name__ == "__main__":
    sys.exit(main())
