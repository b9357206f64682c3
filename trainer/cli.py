"""`python train_llm.py`: the workflow's training command."""

from __future__ import annotations

import argparse
import sys

from trainer.config import PRESETS
from trainer.checkpoint import CheckpointError
from trainer.data import DataError
from trainer.ideas import UnknownIdeaError, discover_ideas


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _positive_int(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser(ideas: dict) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python train_llm.py",
        description="Train a small GPT on the embedded offline corpus (or your own text) and write metrics.json. "
                    "The seed sets both weight initialisation and data order.",
        epilog="Every idea adds a flag --use_<name> [true|false]; list them with --list_ideas.")
    p.add_argument("--train_tokens", type=_positive_int, default=1_000_000, help="training token budget (default 1000000)")
    p.add_argument("--seed", type=int, default=42, help="seed for weight init AND data order (default 42)")
    p.add_argument("--output_dir", default=None, help="where metrics.json and checkpoint.pt go (default checkpoints/seed<SEED>)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="model/training preset (default: gpu-88m on CUDA, cpu-small otherwise)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--batch_size", type=_positive_int, default=None, help="sequences per step (default: the preset's)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default=None, help="torch.compile (default auto: CUDA only)")
    p.add_argument("--data", nargs="+", default=None, help="your own .txt/.md files or folders instead of the default corpus")
    p.add_argument("--hf_dataset", default=None, help="optional Hugging Face dataset name[:split[:column]] (needs `datasets`)")
    p.add_argument("--cache_dir", default=None, help="tokenized data cache (default processed_data/ or $RESEARCH_DATA_DIR)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --output_dir")
    p.add_argument("--no_resume", action="store_true", help="ignore a checkpoint in --output_dir and start afresh")
    p.add_argument("--no_checkpoint", action="store_true", help="do not keep the final checkpoint")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.add_argument("--list_ideas", action="store_true", help="list the known idea flags and exit")
    group = p.add_argument_group("ideas (each off unless given; '--use_x' alone means true)")
    for name, idea in sorted(ideas.items()):
        group.add_argument(f"--use_{name}", type=_bool, nargs="?", const=True, default=False, metavar="BOOL",
                           help=f"[{idea.category}] {idea.title}".replace("%", "%%"))  # argparse formats help with %
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        ideas = discover_ideas()
    except Exception as exc:  # noqa: BLE001 - a broken user idea must not hide the rest of the CLI
        print(f"error: could not load ideas: {exc}", file=sys.stderr)
        return 2
    parser = build_parser(ideas)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        bad = [u for u in unknown if u.startswith("--use_")]
        if bad:
            known = ", ".join(f"--use_{n}" for n in sorted(ideas)) or "(none)"
            parser.error(f"unknown idea flag {bad[0].split('=')[0]}; known flags: {known}")
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.list_ideas:
        for name, idea in sorted(ideas.items()):
            print(f"--use_{name:<22} [{idea.category}] {idea.title}")
        return 0

    from trainer.run import RunOptions, TrainingDiverged, TrainingSession  # noqa: PLC0415

    flags = {name: getattr(args, f"use_{name}") for name in ideas}
    output_dir = args.output_dir or f"checkpoints/seed{args.seed}"
    overrides = {k: v for k, v in {"batch_size": args.batch_size, "compile": args.compile}.items() if v is not None}
    try:
        session = TrainingSession(args.preset, train_tokens=args.train_tokens, flags=flags, device=args.device,
                                  train_overrides=overrides, data_paths=args.data, hf_dataset=args.hf_dataset,
                                  cache_dir=args.cache_dir)
        print(f"[train] {session.describe()}")
        print(f"[train] data: {session.data.describe()}")
        print(f"[train] seed {args.seed}, {args.train_tokens:,} tokens -> {output_dir}")
        record = session.run(args.seed, RunOptions(output_dir=output_dir, overwrite=args.overwrite,
                                                   resume=not args.no_resume, keep_checkpoint=not args.no_checkpoint,
                                                   quiet=args.quiet))
    except (ValueError, DataError, UnknownIdeaError, FileExistsError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {exc}; details in {output_dir}/metrics.json", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted: rerun the same command to resume from the last checkpoint in {output_dir}", file=sys.stderr)
        return 130
    wall = record["wall_time"]
    print(f"Final | val_loss: {record['val_loss']:.4f} | val_accuracy: {record['val_accuracy']:.4f} | "
          f"wall_time: {wall['total_s']:.2f}s (setup {wall['setup_s']:.2f}, train {wall['train_s']:.2f}, "
          f"eval {wall['eval_s']:.2f}) | {record['tokens_per_s']:,.0f} tok/s")
    print(f"[train] wrote {output_dir}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
