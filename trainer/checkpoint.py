"""Checkpoints: weights, optimizer state, loop state and RNG state, written atomically,
so a killed run resumes to the same result as an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from trainer.atomic import write_atomic

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(RuntimeError):
    pass


class CheckpointMismatch(CheckpointError):
    pass


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse to train over a finished run unless asked to."""
    metrics = out / "metrics.json"
    if metrics.exists() and not overwrite:
        try:
            status = json.loads(metrics.read_text()).get("status")
        except (OSError, ValueError):
            status = "unreadable"
        if status == "finished":
            raise FileExistsError(f"{out} already holds a finished run ({metrics}); choose another --output_dir "
                                  "or pass --overwrite to replace it")
    if overwrite:
        # The checkpoint stays: run() resumes from it only if it belongs to the same run.
        metrics.unlink(missing_ok=True)


def save(out: Path, model, optimizers, state: dict, identity: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "identity": identity,
        "model": model.state_dict(),
        "optimizers": [opt.state_dict() for opt in optimizers],
        "state": state,
        "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
    }
    write_atomic(out / CHECKPOINT_NAME, lambda fh: torch.save(payload, fh))


def load(out: Path, model, optimizers, expect: dict) -> dict:
    path = out / CHECKPOINT_NAME
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle code
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path} cannot be read ({exc}); fix: delete it to start the run afresh") from exc
    if payload.get("identity") != expect:
        raise CheckpointMismatch(f"{path} belongs to another run (seed, flags, config, data or code differ); "
                              "fix: use another --output_dir or delete the checkpoint")
    model.load_state_dict(payload["model"])
    if len(payload["optimizers"]) != len(optimizers):
        raise CheckpointError(f"{path} holds {len(payload['optimizers'])} optimizer states, expected {len(optimizers)}")
    for opt, sd in zip(optimizers, payload["optimizers"]):
        opt.load_state_dict(sd)
    torch.set_rng_state(payload["rng"]["torch"])
    if payload["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
    return payload["state"]


def remove(out: Path) -> None:
    (out / CHECKPOINT_NAME).unlink(missing_ok=True)

