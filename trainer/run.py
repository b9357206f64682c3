"""Training runs: one seed (`train_run`) or several seeds of one configuration in one
process (`TrainingSession`: the model is built, and on CUDA compiled, once; weights,
optimizer and data order are reset from the seed for every run)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from trainer import checkpoint as ckpt
from trainer.progress import Bar, eval_line, resume_line
from trainer.config import ModelConfig, Preset, TrainConfig, config_to_dict, resolve_device, resolve_preset
from trainer.data import TokenizedData, prepare_data
from trainer.evaluate import autocast, evaluate, validation_windows
from trainer.ideas import Idea, UntrustedIdea, discover_ideas, idea_sources, ideas_fingerprint, resolve_flags
from trainer.model import GPT
from trainer.optim import build_optimizers, lr_multiplier
from trainer.record import build_record, code_fingerprint, device_info, utc_now, write_json_atomic


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; `record` holds the run marked failed."""

    def __init__(self, message: str, record: dict):
        super().__init__(message)
        self.record = record


@dataclass
class RunOptions:
    output_dir: str | Path | None = None  # metrics.json and checkpoint.pt go here
    overwrite: bool = False  # allow replacing a finished run in output_dir
    resume: bool = True  # continue from output_dir/checkpoint.pt when present
    keep_checkpoint: bool = True
    quiet: bool = False  # no progress bar, no per-eval lines
    progress: bool | None = None  # None: a bar when stderr is a terminal
    # Called after every optimizer step with (step, tokens_seen); used to interrupt runs in tests.
    on_step: Callable[[int, int], None] | None = None
    # Replaces the evaluation at each evaluation point with (model, index): a sandboxed run has
    # no validation split; it hands its model out and the study process evaluates it.
    on_eval: Callable[[torch.nn.Module, int], None] | None = None


@dataclass
class RunPlan:
    """A configuration resolved without building a model; once the data is bound, the
    one place that says which run a seed makes (`identity`, `key`)."""

    preset: str
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    ideas: list[Idea]
    device: torch.device
    code_fingerprint: str
    purpose: str = ""  # a reason to keep a run apart from the same configuration (a verification rerun)
    data: TokenizedData | None = dataclasses.field(default=None, repr=False, compare=False)
    # Ideas whose modules are imported with their flags off (a flag-off verification): they
    # decide nothing when they are correct, but a model-written one decides where the run trains.
    loaded: list[Idea] = dataclasses.field(default_factory=list)
    # The preset's settings the caller overrode before any idea's configure() ran: a run
    # rebuilt elsewhere (a sandbox) starts from them and runs configure() itself.
    overrides: dict = dataclasses.field(default_factory=dict)

    @property
    def data_fingerprint(self) -> str | None:
        return self.data.fingerprint if self.data is not None else None

    @property
    def flags(self) -> list[str]:
        return [i.name for i in self.ideas]

    def bind_data(self, data: TokenizedData) -> "RunPlan":
        self.model_cfg.vocab_size = data.vocab_size
        self.data = data
        return self

    def identity(self, seed: int) -> dict:
        """Everything that decides a run's result; its hash is the run key."""
        if self.data_fingerprint is None:
            raise RuntimeError("bind the data (RunPlan.bind_data) before asking for a run's identity")
        ident = {"seed": seed, "preset": self.preset, "model": config_to_dict(self.model_cfg),
                 "train": config_to_dict(self.train_cfg), "flags": sorted(self.flags), "device": self.device.type,
                 "data": self.data_fingerprint, "code": self.code_fingerprint}
        if self.purpose:
            ident["purpose"] = self.purpose
        return ident

    def key(self, seed: int) -> str:
        return run_key(self.identity(seed))


def plan_run(preset: str | None = None, *, train_tokens: int | None = None, flags=None, device=None,
             model_overrides: dict | None = None, train_overrides: dict | None = None,
             idea_dirs: list | None = None, purpose: str = "", untrusted_dirs: list | None = None,
             configured: dict | None = None, load=None, ideas: dict | None = None) -> RunPlan:
    """A run's configuration. A model-written idea (an `UntrustedIdea`) is configured with the
    changes its configure() made in the sandbox, `configured[name]`, never by running it here.
    `load` names ideas whose modules are imported with their flags off; `ideas` is the
    registry to resolve names in (default: discovered from the folders)."""
    dev = resolve_device(str(device) if device is not None else None)
    base: Preset = resolve_preset(preset, dev)
    model_cfg = dataclasses.replace(base.model, **(model_overrides or {}))
    train_cfg = dataclasses.replace(base.train, **(train_overrides or {}))
    if train_tokens is not None:
        train_cfg = dataclasses.replace(train_cfg, train_tokens=int(train_tokens))
    known = ideas if ideas is not None else discover_ideas(idea_dirs, untrusted_dirs) if flags or load else None
    enabled = resolve_flags(flags, known)
    for idea in enabled:
        if isinstance(idea, UntrustedIdea) and configured and idea.name in configured:
            idea.config_changes = configured[idea.name]
        idea.configure(model_cfg, train_cfg)
    loaded = [i for i in resolve_flags(list(load or ()), known) if i not in enabled]
    return RunPlan(base.name, model_cfg, train_cfg, enabled, dev, code_fingerprint(ideas_fingerprint(enabled)),
                   purpose, loaded=loaded, overrides={"model": dict(model_overrides or {}),
                                                      "train": dict(train_overrides or {})})


def run_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


class TrainingSession:
    """One configuration (preset, configs, enabled ideas, device, data); many seeds."""

    def __init__(self, preset: str | None = None, *, train_tokens: int | None = None, flags=None,
                 device: str | torch.device | None = None, model_overrides: dict | None = None,
                 train_overrides: dict | None = None, data: TokenizedData | None = None,
                 data_paths: list[str] | None = None, hf_dataset: str | None = None,
                 cache_dir: str | Path | None = None, idea_dirs: list | None = None, log=print,
                 plan: RunPlan | None = None):
        t0 = time.perf_counter()
        self.log = log
        if plan is None:
            plan = plan_run(preset, train_tokens=train_tokens, flags=flags, device=device,
                            model_overrides=model_overrides, train_overrides=train_overrides, idea_dirs=idea_dirs)
        self.plan = plan
        self.device, self.preset, self.ideas = plan.device, plan.preset, plan.ideas
        self.model_cfg, self.train_cfg = plan.model_cfg, plan.train_cfg
        self.data = data or plan.data or prepare_data(self.model_cfg.vocab_size, data_paths, hf_dataset, cache_dir, log=log)
        plan.bind_data(self.data)
        has_val = self.data.val is not None  # None inside the sandbox: the validation split never enters it
        if len(self.data.train) < 2 * (self.model_cfg.seq_len + 1) or \
                (has_val and len(self.data.val) < self.model_cfg.seq_len + 1):
            raise ValueError(f"the dataset is too small for seq_len {self.model_cfg.seq_len}: "
                             f"{len(self.data.train)} train / {len(self.data.val)} val tokens")
        self.code_fingerprint = plan.code_fingerprint
        self.idea_sources = idea_sources(self.ideas)

        torch.manual_seed(0)
        self.model = GPT(self.model_cfg)
        for idea in self.ideas:
            idea.patch_model(self.model)
        self.model.to(self.device)
        self.param_counts = self.model.num_params()
        self.compiled = self.train_cfg.compiles(self.device)
        self.forward = torch.compile(self.model) if self.compiled else self.model
        # Tokens live on the device: batches are gathered there, no loader in the loop.
        self.train_tokens_t = torch.from_numpy(self.data.train.astype(np.int64)).to(self.device)
        self.val_windows = validation_windows(self.data.val, self.model_cfg.seq_len, self.train_cfg.eval_tokens,
                                              self.device) if has_val else None
        self.setup_seconds = time.perf_counter() - t0
        self.runs_done = 0

    # -- description -------------------------------------------------------------------
    @property
    def flags(self) -> list[str]:
        return [i.name for i in self.ideas]

    def describe(self) -> str:
        return (f"preset {self.preset} on {self.device.type} ({device_info(self.device)['name']}), "
                f"{self.param_counts['total']:,} parameters, flags: {', '.join('--use_' + f for f in self.flags) or 'none'}")

    def config_dict(self) -> dict:
        return {"preset": self.preset, "model": config_to_dict(self.model_cfg), "train": config_to_dict(self.train_cfg)}

    # -- pieces of the loop ------------------------------------------------------------------
    def _schedule(self, progress: float) -> float:
        fn = lambda p, cfg: lr_multiplier(p, cfg)  # noqa: E731
        for idea in self.ideas:
            fn = (lambda inner, idea_: (lambda p, cfg: idea_.lr_multiplier(p, cfg, inner)))(fn, idea)
        return fn(progress, self.train_cfg)

    def _seq_len(self, progress: float) -> int:
        L = self.model_cfg.seq_len
        for idea in self.ideas:
            L = idea.seq_len(progress, L)
        return max(8, min(L, self.model_cfg.seq_len))

    def _optimizers(self):
        default = build_optimizers
        for idea in self.ideas:
            default = (lambda inner, idea_: (lambda m, c, d: idea_.build_optimizers(m, c, d, inner)))(default, idea)
        return default(self.model, self.train_cfg, self.device)

    def _batch(self, seed: int, step: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Row r of step s is window perm_e[(s*B + r) % n] of epoch e: the seed fixes the order."""
        full = self.model_cfg.seq_len
        n_windows = (len(self.train_tokens_t) - 1) // full
        B = self.train_cfg.batch_size
        rows, have = [], 0
        while have < B:
            epoch, offset = divmod(step * B + have, n_windows)
            take = min(B - have, n_windows - offset)
            rows.append(self._permutation(seed, epoch, n_windows)[offset : offset + take])
            have += take
        idx = torch.cat(rows) * full
        windows = self.train_tokens_t[idx[:, None] + torch.arange(seq_len + 1, device=self.device)]
        return windows[:, :-1], windows[:, 1:]

    def _permutation(self, seed: int, epoch: int, n: int) -> torch.Tensor:
        key = (seed, epoch)
        if getattr(self, "_perm_key", None) != key:
            gen = torch.Generator().manual_seed(seed * 7919 + epoch)
            # On the device once per epoch: a host-to-device copy every step would make the host
            # wait for the GPU's previous step (a sync in the loop). Same order as before.
            self._perm, self._perm_key = torch.randperm(n, generator=gen).to(self.device), key
        return self._perm

    def evaluate(self) -> tuple[float, float]:
        """Mean next-token loss and top-1 accuracy on the fixed validation windows."""
        self.model.eval()
        try:
            return evaluate(self.forward, self.val_windows, self.train_cfg.batch_size, self.device,
                            self.train_cfg.dtype)
        finally:
            self.model.train()

    # -- one run ----------------------------------------------------------------------------
    def run(self, seed: int, options: RunOptions | None = None) -> dict:
        opts = options or RunOptions()
        out = Path(opts.output_dir) if opts.output_dir else None
        if out is not None:
            ckpt.check_output_dir(out, opts.overwrite)
        cfg = self.train_cfg
        t_setup = time.perf_counter()
        self.model.init_weights(seed)
        optimizers = self._optimizers()
        torch.manual_seed(seed)
        state = {"step": 0, "tokens": 0, "history": [], "train_loss": [], "train_s": 0.0, "eval_s": 0.0, "evals_done": 0,
                 "started": utc_now()}
        resumed_from = None
        if out is not None and opts.resume and (out / ckpt.CHECKPOINT_NAME).exists():
            try:
                state = ckpt.load(out, self.model, optimizers, expect=self._identity(seed))
            except ckpt.CheckpointMismatch:
                if not opts.overwrite:
                    raise
                ckpt.remove(out)  # --overwrite: another run's checkpoint is replaced, not resumed
            else:
                resumed_from = state["tokens"]
            if not opts.quiet:
                self.log(resume_line(out, state["step"], state["tokens"]))
        setup_s = (self.setup_seconds if self.runs_done == 0 else 0.0) + time.perf_counter() - t_setup
        compile_s = 0.0
        milestones = [math.ceil(cfg.train_tokens * k / cfg.eval_count) for k in range(1, cfg.eval_count + 1)]
        progress_bar = Bar(cfg.train_tokens, (not opts.quiet) and
                                    (sys.stderr.isatty() if opts.progress is None else opts.progress))
        pending: list[torch.Tensor] = []
        pending_steps: list[tuple[int, int]] = []

        def flush_losses() -> float | None:
            if not pending:
                return None
            values = torch.stack(pending).float().cpu().tolist()
            for (step_i, tok_i), v in zip(pending_steps, values):
                if not math.isfinite(v):
                    record = self._record(seed, state, setup_s, compile_s, resumed_from, status="failed",
                                          failure={"step": step_i, "tokens": tok_i, "loss": v,
                                                   "reason": f"training loss became {v} at step {step_i}"})
                    if out is not None:
                        write_json_atomic(out / "metrics.json", record)
                    raise TrainingDiverged(f"training loss became {v} at step {step_i} ({tok_i:,} tokens); "
                                           "the run is marked failed", record)
                state["train_loss"].append({"step": step_i, "tokens": tok_i, "loss": round(v, 6)})
            pending.clear()
            pending_steps.clear()
            return values[-1]

        self.model.train()
        t_train = time.perf_counter()
        while state["tokens"] < cfg.train_tokens:
            progress = state["tokens"] / cfg.train_tokens
            L = self._seq_len(progress)
            x, y = self._batch(seed, state["step"], L)
            mult = self._schedule(progress)
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * mult
            t_step = time.perf_counter()
            with autocast(self.device, cfg.dtype):
                loss = self.forward(x, y)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            for opt in optimizers:
                opt.step()
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            if self.compiled and state["step"] == 0 and self.runs_done == 0:
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                compile_s = time.perf_counter() - t_step  # the first compiled step is mostly compilation
            state["step"] += 1
            state["tokens"] += x.numel()
            pending.append(loss.detach())
            pending_steps.append((state["step"], state["tokens"]))
            if opts.on_step is not None:
                opts.on_step(state["step"], state["tokens"])
            if state["step"] % cfg.log_every == 0:
                last = flush_losses()
                progress_bar.update(state["tokens"], last)
            if state["evals_done"] < len(milestones) and state["tokens"] >= milestones[state["evals_done"]]:
                last = flush_losses()
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                state["train_s"] += time.perf_counter() - t_train
                t_eval = time.perf_counter()
                if opts.on_eval is not None:
                    opts.on_eval(self.model, state["evals_done"])
                    val_loss = val_acc = None  # measured by whoever evaluates what on_eval handed out
                else:
                    val_loss, val_acc = self.evaluate()
                state["eval_s"] += time.perf_counter() - t_eval
                state["evals_done"] += 1
                state["history"].append({"step": state["step"], "tokens": state["tokens"], "val_loss": val_loss,
                                         "val_accuracy": val_acc, "train_loss": last})
                if val_loss is not None and not math.isfinite(val_loss):
                    failure = {"step": state["step"], "tokens": state["tokens"], "loss": val_loss,
                               "reason": f"validation loss became {val_loss} at step {state['step']}"}
                    record = self._record(seed, state, setup_s, compile_s, resumed_from, status="failed", failure=failure)
                    if out is not None:
                        write_json_atomic(out / "metrics.json", record)
                    raise TrainingDiverged(failure["reason"] + "; the run is marked failed", record)
                if not opts.quiet and val_loss is not None:
                    progress_bar.close()  # end the bar's line before the eval line
                    self.log(eval_line(state["step"], val_loss, val_acc, state["tokens"]))
                if out is not None and state["tokens"] < cfg.train_tokens:
                    ckpt.save(out, self.model, optimizers, state, self._identity(seed))
                t_train = time.perf_counter()
        flush_losses()
        progress_bar.close()
        self.runs_done += 1
        record = self._record(seed, state, setup_s, compile_s, resumed_from, status="finished")
        if out is not None:
            write_json_atomic(out / "metrics.json", record)
            if opts.keep_checkpoint:
                ckpt.save(out, self.model, optimizers, state, self._identity(seed))
            else:
                ckpt.remove(out)
        return record

    def _identity(self, seed: int) -> dict:
        return self.plan.identity(seed)

    def _record(self, seed: int, state: dict, setup_s: float, compile_s: float, resumed_from, *, status: str,
                failure: dict | None = None) -> dict:
        return build_record(self.plan, seed, state, setup_s=setup_s, compile_s=compile_s, status=status,
                            failure=failure, resumed_from=resumed_from, params=self.param_counts, compiled=self.compiled,
                            eval_tokens=int(self.val_windows[:, 1:].numel()) if self.val_windows is not None else None,
                            idea_sources=self.idea_sources)


def train_run(seed: int, preset: str | None = None, *, train_tokens: int | None = None, flags=None,
              device=None, options: RunOptions | None = None, **session_kwargs) -> dict:
    """Train one seed and return its run record."""
    session = TrainingSession(preset, train_tokens=train_tokens, flags=flags, device=device, **session_kwargs)
    return session.run(seed, options)
