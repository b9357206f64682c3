"""`python -m research_harness runs`: the stored runs of a workspace, one row each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m research_harness",
                                     description="Inspect a research_harness workspace.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    runs = commands.add_parser("runs", help="print the stored runs (one row per run record)",
                               description="Print the stored runs of a workspace, one row per run record, "
                                           "ordered by start time.")
    runs.add_argument("--research-dir", default=".", help="the workspace (default: the current directory)")
    runs.add_argument("--csv", action="store_true", help="print CSV with every column instead of a table")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    root = Path(args.research_dir)
    if not root.is_dir():
        parser.error(f"--research-dir {root} is not a directory")
    from research_harness.frame import runs_frame  # noqa: PLC0415

    frame = runs_frame(root)
    if frame.empty:
        print(f"no stored runs under {root.resolve() / 'runs'}")
        return 0
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
        return 0
    shown = frame[["started", "arm", "flags", "seed", "tokens", "val_loss", "tokens_per_s", "wall_total_s", "device",
                   "code_fingerprint", "run_key"]].copy()
    shown["started"] = shown["started"].dt.strftime("%Y-%m-%d %H:%M:%S")
    import pandas as pd  # noqa: PLC0415

    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_rows", None):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:,.4f}" if abs(v) < 100 else f"{v:,.0f}"))
    print(f"{len(frame)} run(s) in {root.resolve() / 'runs'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `... runs | head`: the reader stopped, which is fine
        sys.stderr.close()
        sys.exit(0)
