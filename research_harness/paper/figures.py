"""Figures of the paper, drawn with matplotlib (Agg backend) from the run records only.

* ``<topic>_val_loss_curves``: validation loss against training tokens, one line per
  seed, both arms (from each record's ``history``).
* ``<topic>_final_val_loss``: final validation loss per seed for both arms, with the
  baseline mean and a band of +/- 1 baseline sigma.

Each is written as PNG (for the markdown) and PDF (vector, for LaTeX).
"""

from __future__ import annotations

from pathlib import Path

from research_harness import stats
from research_harness.paper.analysis import Analysis
from trainer.atomic import write_atomic

__all__ = ["make_figures"]

_CTRL, _EXP, _BASE = "#1f77b4", "#d62728", "#7f7f7f"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "savefig.bbox": "tight", "pdf.fonttype": 42})
    return plt


def _save(fig, stem: Path) -> list[Path]:
    out = []
    for ext in ("png", "pdf"):
        options = {"dpi": 150} if ext == "png" else {"metadata": {"CreationDate": None}}
        out.append(write_atomic(stem.with_suffix("." + ext), lambda fh: fig.savefig(fh, format=ext, **options)))
    return out


def _curves(plt, a: Analysis, stem: Path) -> list[Path]:
    markers = "osD^v<>pPX*h"
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), gridspec_kw={"width_ratios": [1.0, 1.0]})
    for ax, zoom in zip(axes, (False, True)):
        for arm, recs, color in (("control", a.control, _CTRL), ("experimental", a.experimental, _EXP)):
            for i, r in enumerate(recs):
                hist = r.get("history") or []
                xs = [h["tokens"] for h in hist if h.get("val_loss") is not None]
                ys = [h["val_loss"] for h in hist if h.get("val_loss") is not None]
                if not xs:
                    continue
                ax.plot(xs, ys, color=color, marker=markers[i % len(markers)], markersize=3.5, linewidth=1.0,
                        alpha=0.85, label=f"{arm}, seed {r['seed']}")
        ax.set_xlabel("training tokens")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.grid(alpha=0.3, linewidth=0.5)
        if zoom:
            all_tokens = sorted({h["tokens"] for r in a.arms for h in (r.get("history") or [])})
            if len(all_tokens) > 1:
                left, right = all_tokens[-2], all_tokens[-1]
                vals = [h["val_loss"] for r in a.arms for h in (r.get("history") or [])
                        if h["tokens"] >= left and h.get("val_loss") is not None]
                span = right - left
                ax.set_xlim(left - 0.05 * span, right + 0.05 * span)
            else:
                vals = [float(r["val_loss"]) for r in a.arms]
            lo, hi = min(vals), max(vals)
            pad = max(hi - lo, 1e-3) * 0.08
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_title("last two evaluations (zoomed)", fontsize=9)
        else:
            ax.set_ylabel("validation loss (nats)")
            ax.set_title("all evaluations", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    n = len(a.control)
    if len(handles) == 2 * n:  # legend columns fill top-down: interleave so each row is one arm
        order = [k for i in range(n) for k in (i, n + i)]
        handles, labels = [handles[k] for k in order], [labels[k] for k in order]
    fig.legend(handles, labels, loc="lower center", ncol=max(len(a.control), 1), fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    paths = _save(fig, stem)
    plt.close(fig)
    return paths


def _final(plt, a: Analysis, stem: Path) -> list[Path]:
    base = stats.summarize([r["val_loss"] for r in a.baseline])
    seeds = sorted({r["seed"] for r in a.arms})
    pos = {s: i for i, s in enumerate(seeds)}
    fig, ax = plt.subplots(figsize=(5.2, 2.8))
    ax.axhspan(base.mean - base.std, base.mean + base.std, color=_BASE, alpha=0.18,
               label=f"baseline mean ± 1σ (N = {base.n})")
    ax.axhline(base.mean, color=_BASE, linewidth=1.0, linestyle="--")
    for arm, recs, color, dx, marker in (("control", a.control, _CTRL, -0.12, "o"),
                                         ("experimental", a.experimental, _EXP, 0.12, "s")):
        xs = [pos[r["seed"]] + dx for r in recs]
        ys = [float(r["val_loss"]) for r in recs]
        ax.scatter(xs, ys, color=color, marker=marker, s=28, zorder=3, label=arm)
        s = stats.summarize(ys)
        ax.errorbar([len(seeds) + dx], [s.mean], yerr=[s.std], color=color, marker=marker, capsize=3,
                    markersize=5, zorder=3)
    ax.set_xticks(list(range(len(seeds))) + [len(seeds)])
    ax.set_xticklabels([str(s) for s in seeds] + ["mean ± std"])
    ax.set_xlabel("seed")
    ax.set_ylabel("final validation loss (nats)")
    ax.grid(axis="y", alpha=0.3, linewidth=0.5)
    ax.legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    paths = _save(fig, stem)
    plt.close(fig)
    return paths


def make_figures(analysis: Analysis, figures_dir: Path, topic: str) -> dict[str, list[Path]]:
    """Draw both figures; return ``{"curves": [png, pdf], "final": [png, pdf]}``."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    return {
        "curves": _curves(plt, analysis, figures_dir / f"{topic}_val_loss_curves"),
        "final": _final(plt, analysis, figures_dir / f"{topic}_final_val_loss"),
    }
