"""Model and training configuration as plain dataclasses, plus named presets."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    vocab_size: int = 4096
    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    n_kv_heads: int = 2
    d_ff: int = 512
    seq_len: int = 256
    rope_base: float = 10000.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("head dimension must be even for RoPE")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class TrainConfig:
    train_tokens: int = 1_000_000
    batch_size: int = 16
    # Muon for 2-D hidden matrices, AdamW for embeddings and gains (the source's split).
    muon_lr: float = 0.02
    muon_momentum: float = 0.95
    adamw_lr: float = 3e-3
    adamw_betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    warmup_frac: float = 0.02
    final_lr_frac: float = 0.1
    grad_clip: float = 1.0
    # Validation tokens per evaluation, and how many evaluations (the last at the end).
    eval_tokens: int = 131_072
    eval_count: int = 4
    log_every: int = 25
    compile: str = "auto"  # "auto": on CUDA only; "on"; "off"
    dtype: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU

    def __post_init__(self) -> None:
        if self.train_tokens <= 0:
            raise ValueError(f"train_tokens must be positive, got {self.train_tokens}")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.eval_count < 1:
            raise ValueError(f"eval_count must be at least 1, got {self.eval_count}")
        if self.compile not in ("auto", "on", "off"):
            raise ValueError(f"compile must be auto, on or off, got {self.compile!r}")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise ValueError(f"dtype must be auto, bf16 or fp32, got {self.dtype!r}")

    def compiles(self, device) -> bool:
        """Whether a run on `device` is compiled (the model's step and Muon's update)."""
        kind = getattr(device, "type", str(device).split(":")[0])
        return self.compile == "on" or (self.compile == "auto" and kind == "cuda")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)


PRESETS: dict[str, Preset] = {
    "cpu-small": Preset(
        "cpu-small",
        "about 1.3M parameters (4 layers, d 128, GQA 4/2, seq 256): 1M tokens in minutes on 2 CPU cores",
        ModelConfig(vocab_size=4096, n_layers=4, d_model=128, n_heads=4, n_kv_heads=2, d_ff=512, seq_len=256),
        TrainConfig(batch_size=16, eval_tokens=49_152, eval_count=4),
    ),
    "gpu-88m": Preset(
        "gpu-88m",
        "the seed's 88M configuration (22 layers, d 512, GQA 8/4, d_ff 2048, seq 2048, batch 8) for one GPU",
        ModelConfig(vocab_size=49152, n_layers=22, d_model=512, n_heads=8, n_kv_heads=4, d_ff=2048, seq_len=2048),
        TrainConfig(batch_size=8, muon_lr=0.02, adamw_lr=3e-3, eval_tokens=131_072, eval_count=3),
    ),
    "tiny": Preset(
        "tiny",
        "a test-sized model (2 layers, d 32, seq 64): seconds on a CPU; for the project's own tests",
        ModelConfig(vocab_size=4096, n_layers=2, d_model=32, n_heads=2, n_kv_heads=1, d_ff=64, seq_len=64),
        TrainConfig(batch_size=8, eval_tokens=4096, eval_count=3, log_every=5),
    ),
}


# torch is imported inside the functions below, not at module level: the pytest plugin
# validates preset names at configure time and must not pay torch's import there.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def default_preset_name(device) -> str:
    return "gpu-88m" if str(device).startswith("cuda") else "cpu-small"


def resolve_preset(name: str | None, device) -> Preset:
    name = name or default_preset_name(device)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    # Fresh copies: callers mutate configs (token budget, vocab size from the tokenizer).
    return Preset(preset.name, preset.description, dataclasses.replace(preset.model), dataclasses.replace(preset.train))


def resolve_device(name: str | None = None):
    import torch

    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not DEVICE_PATTERN.match(str(name)):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N, mps")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available; use --device cpu")
    return device


def config_to_dict(obj) -> dict:
    return dataclasses.asdict(obj)
