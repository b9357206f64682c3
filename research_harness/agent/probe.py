"""Behaviour probes: what an idea's hooks change, found by running them on the tiny preset
and comparing with the baseline, never by reading what the idea says about itself.

  configure         run on fresh copies of the tiny preset's configs; the fields it changed.
  patch_model       two tiny GPTs built as the trainer builds them (seeded, then patched,
                    then `init_weights(seed)`): added or removed parameters, replaced
                    modules and changed classes, a replaced `loss_fn`; then, with every
                    shared parameter set to the same generic values, whether the logits or
                    the training loss differ. The trainer's own init makes every block the
                    identity (zero residual outputs), so generic values are needed to see
                    changes inside the blocks. Parameter values that patch_model changes are
                    followed through the trainer's re-initialisation: a rescale that
                    init_weights overwrites changes nothing as trained.
  build_optimizers  the optimizer classes, parameter groups and settings against the
                    default build, and the parameters after a few identical steps.
  lr_multiplier,    against the defaults on a grid of progress values.
  seq_len

Every number a probe reports is measured on the tiny preset: a cheap check of the
mechanism, not a fact about the study's model. `Probe.facts` holds them one per kind,
each saying where it was measured. What depends on the preset and is cheap to count
for the study's own preset, the parameters an idea adds, `added_params_at` counts on
the meta device (no memory, no compute) for any preset.

Kinds (an idea may have several):
  architecture    parameters added or removed, or different logits with equal weights
  loss            a different training loss on the same logits
  optimizer       a different optimizer class or update rule
  schedule        a different learning-rate multiplier or sequence-length curriculum
  hyperparameter  only config values, initial parameter values or optimizer settings
"""

from __future__ import annotations

import dataclasses
import math
import re
import zlib
from dataclasses import dataclass, field

import torch

from trainer import optim
from trainer.config import resolve_preset
from trainer.model import GPT

KINDS = ("architecture", "loss", "optimizer", "schedule", "hyperparameter")
GRID = tuple(i / 200 for i in range(201))  # progress values for schedules
SEED = 42
OPT_STEPS = 4  # Cautious-style masks only act once momentum and gradient can disagree
TOL = 1e-5


@dataclass(frozen=True)
class Probe:
    idea: str
    kinds: tuple[str, ...]
    description: str
    config_changes: dict = field(default_factory=dict)  # "model.seq_len" -> (before, after)
    added_params: dict = field(default_factory=dict)  # name -> shape
    removed_params: dict = field(default_factory=dict)
    replaced_modules: dict = field(default_factory=dict)  # name -> (class before, class after)
    new_modules: dict = field(default_factory=dict)  # name -> class
    loss_replaced: bool = False
    loss_delta: float = 0.0  # training loss change on the same logits
    forward_delta: float = 0.0  # max |logit change| with equal shared weights
    patched_values: dict = field(default_factory=dict)  # name -> max relative change made by patch_model
    init_changed: tuple[str, ...] = ()  # parameters whose trainer-initialised values differ
    optimizer_changes: tuple[str, ...] = ()
    optimizer_classes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # default, idea
    update_delta: float = 0.0  # max |parameter change| after OPT_STEPS identical steps
    lr_changes: dict = field(default_factory=dict)  # points, max_abs, first, last, example
    seq_len_changes: dict = field(default_factory=dict)  # points, min, full, until
    base_param_count: int = 0
    facts: tuple[str, ...] = ()  # the measurements, one sentence per kind, each naming the tiny preset

    @property
    def added_param_count(self) -> int:
        return sum(math.prod(s) for s in self.added_params.values())

    @property
    def inert(self) -> bool:
        """Nothing the trainer runs differs: no kind beyond parameter values that the
        trainer's initialisation overwrites."""
        return not (set(self.kinds) - {"hyperparameter"} or self.config_changes or self.init_changed
                    or self.optimizer_changes)


def probe(idea) -> Probe:
    """Run each of the idea's hooks against the baseline's and describe what changed.
    The caller's global random state is left as it was. A model-written idea is refused:
    its hooks run only inside the sandbox."""
    from trainer.ideas import UntrustedIdea  # noqa: PLC0415

    if isinstance(idea, UntrustedIdea):
        raise ValueError(f"idea {idea.name!r} was written by a model: it is never probed in the study process")
    with torch.random.fork_rng(devices=[]):
        return _probe(idea)


def _probe(idea) -> Probe:
    base_m, base_t = _tiny_configs()
    m_cfg, t_cfg = _tiny_configs()
    _call(idea, "configure", m_cfg, t_cfg)
    config_changes = {**_diff_config("model", base_m, m_cfg), **_diff_config("train", base_t, t_cfg)}
    facts = _probe_model(idea, m_cfg)
    facts.update(_probe_optimizers(idea, m_cfg, t_cfg))
    facts["lr_changes"] = _probe_lr(idea, t_cfg)
    facts["seq_len_changes"] = _probe_seq_len(idea, m_cfg.seq_len)
    kinds = _classify(config_changes, facts)
    parts = _describe(kinds, config_changes, facts)
    return Probe(idea=idea.name, kinds=kinds,
                 description="; ".join(parts) if parts else "no change found: every hook behaves as the baseline's",
                 config_changes=config_changes, facts=tuple(f"{p} (tiny preset)" for p in parts), **facts)


def added_params_at(idea, preset: str) -> dict:
    """The parameters the idea's configure and patch_model add on `preset`, counted on the
    meta device (shapes only: no memory, no compute): {"preset", "added", "base"}, where
    base counts the baseline model of the preset as configured (the tokenizer's vocabulary
    may change it slightly in a run)."""
    from trainer.ideas import UntrustedIdea  # noqa: PLC0415

    if isinstance(idea, UntrustedIdea):
        raise ValueError(f"idea {idea.name!r} was written by a model: it is never probed in the study process")
    configs = resolve_preset(preset, "cpu"), resolve_preset(preset, "cpu")
    _call(idea, "configure", configs[1].model, configs[1].train)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        base = {n: tuple(p.shape) for n, p in GPT(configs[0].model).named_parameters()}
        model = GPT(configs[1].model)
        _call(idea, "patch_model", model)
        after = {n: tuple(p.shape) for n, p in model.named_parameters()}
    return {"preset": preset, "added": sum(math.prod(s) for n, s in after.items() if base.get(n) != s),
            "base": sum(math.prod(s) for s in base.values())}


# -- configs -----------------------------------------------------------------------------

def _tiny_configs():
    preset = resolve_preset("tiny", "cpu")  # fresh copies every call
    return preset.model, preset.train


def _diff_config(prefix: str, before, after) -> dict:
    a, b = dataclasses.asdict(before), dataclasses.asdict(after)
    return {f"{prefix}.{k}": (a[k], b[k]) for k in a if a[k] != b.get(k)}


def _call(idea, hook: str, *args):
    try:
        return getattr(idea, hook)(*args)
    except Exception as exc:  # the probe names the hook that broke
        raise RuntimeError(f"probing idea {idea.name!r}: its {hook} hook raised {exc!r}") from exc


# -- the model ---------------------------------------------------------------------------

def _build(cfg, idea=None) -> GPT:
    """As the trainer builds a model: seeded construction, patch, then init_weights."""
    torch.manual_seed(0)
    model = GPT(cfg)
    if idea is not None:
        _call(idea, "patch_model", model)
    model.init_weights(SEED)
    return model


def _generic_values(model: GPT, names: set[str]) -> None:
    """Seeded, non-degenerate values for the named parameters (by name, so two models get
    the same): the trainer's zero-initialised residual outputs would hide the blocks."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in names:
                continue
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim == 1:
                p.copy_(1 + 0.1 * noise if name.endswith("weight") else 0.1 * noise)
            else:
                p.copy_(noise if "embed" in name else noise / math.sqrt(p.size(1)))


def _probe_model(idea, cfg) -> dict:
    torch.manual_seed(0)
    model = GPT(cfg)
    before_modules = dict(model.named_modules())
    before_classes = {n: type(m).__name__ for n, m in before_modules.items()}
    before_values = {n: p.detach().clone() for n, p in model.named_parameters()}
    _call(idea, "patch_model", model)
    after = dict(model.named_parameters())
    shapes_before = {n: tuple(v.shape) for n, v in before_values.items()}
    shapes_after = {n: tuple(p.shape) for n, p in after.items()}
    added = {n: s for n, s in shapes_after.items() if shapes_before.get(n) != s}
    removed = {n: s for n, s in shapes_before.items() if shapes_after.get(n) != s}
    shared = set(shapes_after) - set(added)
    patched_values = {}
    for n in sorted(shared):
        old, new = before_values[n], after[n].detach()
        if not torch.equal(old, new):
            patched_values[n] = float((new - old).abs().max() / old.abs().max().clamp(min=1e-12))
    modules_after = dict(model.named_modules())
    replaced = {n: (before_classes[n], type(m).__name__) for n, m in modules_after.items()
                if n in before_modules and (m is not before_modules[n] or type(m).__name__ != before_classes[n])}
    new_modules = {n: type(m).__name__ for n, m in modules_after.items() if n not in before_modules}

    # The trainer's order: construct, patch, init_weights(seed). Compare initial values.
    base, patched = _build(cfg), _build(cfg, idea)
    base_params = dict(base.named_parameters())
    init_changed = tuple(sorted(n for n, p in patched.named_parameters()
                                if n in shared and not torch.equal(p, base_params[n])))

    # Equal generic weights for every shared parameter: do the outputs or the loss differ?
    _generic_values(base, shared)
    _generic_values(patched, shared)
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randint(0, cfg.vocab_size, (2, min(16, cfg.seq_len)), generator=gen)
    y = torch.randint(0, cfg.vocab_size, x.shape, generator=gen)
    with torch.no_grad():
        logits_base, logits_patched = base(x), patched(x)
        forward_delta = float((logits_patched.float() - logits_base.float()).abs().max())
        scale = max(1.0, float(logits_base.abs().max()))
        loss_delta = float(patched.loss_fn(logits_base, y) - base.loss_fn(logits_base, y))
        if abs(loss_delta) <= TOL and forward_delta <= TOL * scale:
            loss_delta = float(patched(x, y) - base(x, y))  # a loss change made elsewhere in forward
    return {"added_params": added, "removed_params": removed, "replaced_modules": replaced,
            "new_modules": new_modules, "loss_replaced": patched.loss_fn is not base.loss_fn,
            "loss_delta": loss_delta, "forward_delta": forward_delta if forward_delta > TOL * scale else 0.0,
            "patched_values": patched_values, "init_changed": init_changed,
            "base_param_count": sum(p.numel() for p in base.parameters())}


# -- the optimizer -----------------------------------------------------------------------

_SETTINGS = ("lr", "betas", "eps", "weight_decay", "momentum", "nesterov", "ns_steps")


def _optimizer_view(opts, names: dict) -> list:
    return [(type(o).__name__, [(sorted(names[id(p)] for p in g["params"]),
                                 {k: g[k] for k in _SETTINGS if k in g}) for g in o.param_groups]) for o in opts]


def _probe_optimizers(idea, m_cfg, t_cfg) -> dict:
    device = torch.device("cpu")
    models = [_build(m_cfg, idea), _build(m_cfg, idea)]
    default_opts = optim.build_optimizers(models[0], t_cfg, device)
    idea_opts = _call(idea, "build_optimizers", models[1], t_cfg, device, optim.build_optimizers)
    views = [_optimizer_view(o, {id(p): n for n, p in m.named_parameters()})
             for o, m in ((default_opts, models[0]), (idea_opts, models[1]))]
    classes = tuple(tuple(c for c, _ in v) for v in views)
    changes = []
    if classes[0] != classes[1]:
        changes.append(f"optimizers {', '.join(classes[0])} -> {', '.join(classes[1])}")
    else:
        for (cls, groups_a), (_, groups_b) in zip(*views):
            for i, ((pa, sa), (pb, sb)) in enumerate(zip(groups_a, groups_b)):
                if pa != pb:
                    changes.append(f"{cls} group {i}: parameters {len(pa)} -> {len(pb)}")
                changes += [f"{cls} group {i}: {k} {sa.get(k)} -> {sb.get(k)}"
                            for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
            if len(groups_a) != len(groups_b):
                changes.append(f"{cls}: {len(groups_a)} -> {len(groups_b)} parameter groups")
    gen = torch.Generator().manual_seed(SEED)
    batches = [torch.randint(0, m_cfg.vocab_size, (2, min(16, m_cfg.seq_len) + 1), generator=gen)
               for _ in range(OPT_STEPS)]
    for model, opts in zip(models, (default_opts, idea_opts)):
        for b in batches:
            model(b[:, :-1], b[:, 1:]).backward()
            for o in opts:
                o.step()
                o.zero_grad(set_to_none=True)
    named = dict(models[1].named_parameters())
    with torch.no_grad():
        delta = max(float((p - named[n]).abs().max()) for n, p in models[0].named_parameters())
    return {"optimizer_changes": tuple(changes), "optimizer_classes": classes, "update_delta": delta}


# -- schedules ---------------------------------------------------------------------------

def _probe_lr(idea, t_cfg) -> dict:
    diffs = []
    for p in GRID:
        default, mine = optim.lr_multiplier(p, t_cfg), _call(idea, "lr_multiplier", p, t_cfg, optim.lr_multiplier)
        if abs(mine - default) > 1e-9:
            diffs.append((p, default, mine))
    if not diffs:
        return {}
    worst = max(diffs, key=lambda d: abs(d[2] - d[1]))
    return {"points": len(diffs), "of": len(GRID), "max_abs": abs(worst[2] - worst[1]),
            "first": diffs[0][0], "last": diffs[-1][0], "example": worst}


def _probe_seq_len(idea, full: int) -> dict:
    # The trainer clamps every length to [8, full].
    lengths = [(p, max(8, min(_call(idea, "seq_len", p, full), full))) for p in GRID]
    short = [(p, L) for p, L in lengths if L != full]
    if not short:
        return {}
    return {"points": len(short), "of": len(GRID), "min": min(L for _, L in short), "full": full,
            "until": short[-1][0], "start": lengths[0][1]}


# -- classification and description --------------------------------------------------------

def _classify(config_changes: dict, f: dict) -> tuple[str, ...]:
    kinds = []
    if f["added_params"] or f["removed_params"] or f["forward_delta"]:
        kinds.append("architecture")
    if abs(f["loss_delta"]) > TOL:
        kinds.append("loss")
    same_classes = f["optimizer_classes"][0] == f["optimizer_classes"][1]
    if not same_classes or (f["update_delta"] > 0 and not f["optimizer_changes"]):
        kinds.append("optimizer")
    if f["lr_changes"] or f["seq_len_changes"]:
        kinds.append("schedule")
    if config_changes or f["init_changed"] or f["patched_values"] or (same_classes and f["optimizer_changes"]):
        kinds.append("hyperparameter")
    return tuple(kinds)


def param_groups(params: dict) -> list[tuple[int, int, str]]:
    """(count, size each, name pattern) with layer indices folded: blocks.*.attn.gate_proj.weight."""
    groups: dict[tuple[str, int], int] = {}
    for name, shape in params.items():
        key = (re.sub(r"\.\d+\.", ".*.", name), math.prod(shape))
        groups[key] = groups.get(key, 0) + 1
    return [(count, size, pattern) for (pattern, size), count in sorted(groups.items())]


def format_params(params: dict) -> str:
    return ", ".join(f"{c} x {s:,} ({p})" for c, s, p in param_groups(params))


def _fold(names) -> str:
    return ", ".join(sorted({re.sub(r"\.\d+(\.|$)", r".*\1", n) for n in names}))


def _describe(kinds, config_changes: dict, f: dict) -> list[str]:
    parts = []
    if "architecture" in kinds:
        bits = []
        if f["added_params"]:
            n = sum(math.prod(s) for s in f["added_params"].values())
            bits.append(f"adds {n:,} parameter{'s' * (n != 1)} ({100 * n / f['base_param_count']:.2g}% of the tiny preset's model): "
                        f"{format_params(f['added_params'])}")
        if f["removed_params"]:
            bits.append(f"removes {format_params(f['removed_params'])}")
        changed = {n: c for n, c in f["replaced_modules"].items() if c[0] != c[1]}
        swapped = {n: c for n, c in f["replaced_modules"].items() if c[0] == c[1]}
        if changed:
            bits.append("changes the class of " + ", ".join(sorted({f"{_fold([n]) or 'the model'} ({a} -> {b})"
                                                                  for n, (a, b) in changed.items()})))
        if swapped:
            bits.append(f"replaces {_fold(swapped)}")
        if f["new_modules"]:
            bits.append("new modules " + ", ".join(sorted({f"{_fold([n])} ({c})" for n, c in f["new_modules"].items()})))
        if f["forward_delta"]:
            bits.append(f"with equal shared weights the logits change by up to {f['forward_delta']:.3g}")
        parts.append("architecture: " + "; ".join(bits))
    if "loss" in kinds:
        how = "replaces model.loss_fn" if f["loss_replaced"] else "changes the training loss in forward"
        parts.append(f"loss: {how}; on the same logits the training loss changes by {f['loss_delta']:+.3g}")
    if "optimizer" in kinds:
        a, b = f["optimizer_classes"]
        what = f"{', '.join(a)} -> {', '.join(b)}" if a != b else "same classes, different update"
        parts.append(f"optimizer: {what}; after {OPT_STEPS} identical steps the parameters differ by up to "
                     f"{f['update_delta']:.3g}")
    if "schedule" in kinds:
        lr, sl = f["lr_changes"], f["seq_len_changes"]
        if lr:
            p, d, m = lr["example"]
            parts.append(f"schedule: the lr multiplier differs from the default at {lr['points']} of {lr['of']} "
                         f"progress points ({lr['first']:.3f}-{lr['last']:.3f}; at {p:.3f}: {m:.3f} instead of {d:.3f})")
        if sl:
            parts.append(f"schedule: rows of {sl['start']} tokens at the start, shorter than the full {sl['full']} "
                         f"until progress {sl['until']:.3f}")
    if "hyperparameter" in kinds:
        bits = []
        if config_changes:
            bits.append("config " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in config_changes.items()))
        if f["init_changed"]:
            bits.append(f"initial values of {len(f['init_changed'])} parameters differ from the baseline's "
                        f"(same names and shapes)")
        if f["patched_values"] and not f["init_changed"]:
            worst = max(f["patched_values"].values())
            bits.append(f"patch_model changes the values of {_fold(f['patched_values'])} (up to {worst:.1%}), "
                        f"but the trainer's init_weights overwrites them, so as trained nothing changes")
        if f["optimizer_changes"] and f["optimizer_classes"][0] == f["optimizer_classes"][1]:
            bits.append("optimizer settings " + "; ".join(f["optimizer_changes"]))
        parts.append("hyperparameter: " + "; ".join(bits))
    return parts
