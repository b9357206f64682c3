#!/usr/bin/env python3
"""Ideas judged per hour: the throughput of the whole discovery loop (phase 2), and where
its time goes.

    python benchmarks/ideas_per_hour.py --preset tiny --tokens 3000            # CPU, about two minutes
    python benchmarks/ideas_per_hour.py --preset gpu-88m --json out.json       # a GPU, 1M tokens per run

It runs the workflow itself, `pytest experiments/` in fresh workspaces, as a user would:

  1. phase 1 (`-m research_baseline`) once: the baseline both studies share (its records are
     copied into the second workspace, so it trains once; its time is reported, not counted);
  2. study "built-in": phase 2 (`-m research_discovery`) with the offline catalogue agent,
     whose ideas are built-in modules trained in this process;
  3. study "model-written": phase 2's first idea slot with `--research-agent openai` against
     the scripted OpenAI-compatible server of the tests (tests/helpers/agent_server.py) on
     127.0.0.1: the "model" proposes, reviews, refines and writes one idea module, which is
     linted, smoke-trained and configured in the sandbox, and whose runs train there.

An idea counts as judged when the gate has decided (noise or proceed at 3 seeds, or the
second look at 5); a confirmation on fresh seeds is counted apart. Every figure comes from
the stored run records (wall_time, and the `sandbox` section of a sandboxed run's record),
the journal (gate decisions; the sandbox jobs of the implementation step) and the agent's
transcripts (model latency); the only clock of this script is the wall time of each phase-2
pytest process, and what the records do not explain of it is reported as "other" (pytest
start-up and imports, the catalogue's probes, reports and the journal).

The scripted server is imported from tests/helpers by path rather than moved into the
package: it is a test double, and the benchmark needs this checkout anyway (it runs its
experiments/ folder)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The model-written idea: a learnable temperature per attention head. Flag off it changes
# nothing, and it exports at a static shape, so it passes the flag-off verification and the
# sandbox's checks; whether it helps is for the gate to say.
MODEL_IDEA = "head_temp"
_PROPOSAL = {"name": MODEL_IDEA, "category": "attention", "title": "Head temperature",
             "pitch": "Scale each head's queries by a learnable temperature.", "math": r"q_h \leftarrow \tau_h q_h",
             "why_it_might_work": "Heads can sharpen or soften their attention.",
             "why_it_might_not": "QK-norm already fixes the logit scale.",
             "references": ["Henry et al. (2020). Query-Key Normalization for Transformers."],
             "success_criterion": "Cohen's d >= 0.5 on final val_loss"}
_MODULE = '''import torch
from trainer.ideas.base import Idea, extend_module


class _Temperature:
    def attend(self, q, k, v):
        return super().attend(q * self.temperature, k, v)


class HeadTemp(Idea):
    def patch_model(self, model):
        for block in model.blocks:
            block.attn.temperature = torch.nn.Parameter(torch.ones(block.attn.n_heads, 1, 1))
            extend_module(block.attn, _Temperature)


IDEA = HeadTemp(name="head_temp", title="Head temperature", category="attention",
                pitch="Scale each head's queries by a learnable temperature.", math="q_h \\\\leftarrow \\\\tau_h q_h",
                why_it_might_work="Heads can sharpen or soften their attention.",
                why_it_might_not="QK-norm already fixes the logit scale.",
                references=["Henry et al. (2020). Query-Key Normalization for Transformers."])
'''
SCRIPT = {
    "propose": {"ideas": [_PROPOSAL]},
    "review": {"scores": [{"name": MODEL_IDEA, "feasibility": 5, "novelty": 3, "testability": 4,
                           "rationale": "one parameter per head"}], "selected": MODEL_IDEA},
    "refine": {"hypothesis": f"--use_{MODEL_IDEA} lowers final val_loss", "control": "stored baseline runs",
               "experimental": f"--use_{MODEL_IDEA}, same seeds", "expected_effect": {"nats": 0.01, "sigmas": 1.0},
               "success_criterion": "Cohen's d >= 0.5", "plan": ["implement", "smoke test", "3 seeds per arm"]},
    "implement": {"module": _MODULE},
}

# One key per part of a run's time; a run's parts sum to its seconds.
IN_PROCESS_PARTS = ("setup", "compile", "training", "evaluation")
SANDBOXED_PARTS = ("sandbox_start", "child_start_up", "setup", "compile", "training", "export", "parent_evaluation")
PART_WORDS = {"setup": "model build and set-up", "compile": "compilation (first step)",
              "training": "training steps", "evaluation": "evaluation (in-process runs)",
              "sandbox_start": "sandbox start and exit (bubblewrap, interpreter)",
              "child_start_up": "child's imports, configure() and data",
              "export": "export at each evaluation point (child)",
              "parent_evaluation": "export loaded, probed and evaluated by the study process",
              "sandbox_jobs": "implementation step's smoke test and configure() in the sandbox",
              "model_calls": "the model's replies (transcript latency)",
              "other": "outside any run: pytest, imports, the catalogue's probes, reports, journal"}


def run_parts(record: dict) -> tuple[str, dict]:
    """(kind, {part: seconds}) of one run record; the parts sum to the run's seconds."""
    wall = record["wall_time"]
    train = wall["train_s"] - wall["compile_s"]
    box = record.get("sandbox")
    if not box:
        return "in-process", {"setup": wall["setup_s"], "compile": wall["compile_s"], "training": train,
                              "evaluation": wall["eval_s"]}
    inside = wall["setup_s"] + wall["train_s"] + box["export_s"]
    return "sandboxed", {"sandbox_start": box["seconds"] - box["child_s"], "child_start_up": box["child_s"] - inside,
                         "setup": wall["setup_s"], "compile": wall["compile_s"], "training": train,
                         "export": box["export_s"], "parent_evaluation": box["evaluation_s"]}


def role_of(record: dict) -> str:
    from research_harness.workspace import CONFIRMATION_SEEDS, EXTENSION_SEEDS

    if record.get("arm") == "verify":
        return "verification"
    if record["seed"] in CONFIRMATION_SEEDS:
        return "confirmation"
    return "extension" if record["seed"] in EXTENSION_SEEDS else "arm"


def judged(entry: dict) -> dict | None:
    """The gate's deciding decision of a journal entry, or None while it has not decided."""
    for d in entry.get("decisions", []):
        if d.get("look") == 1 or (d.get("look") == 0 and d.get("decision") != "suggestive"):
            return d
    return None


def study_figures(name: str, ws: Path, label: str, before: set, wall_s: float) -> dict:
    """One study's figures from its workspace: the records trained in its phase 2 (not in
    `before`), its journal and its transcripts."""
    from research_harness.agent.transcripts import TranscriptStore
    from research_harness.workspace import Workspace

    paths = [p for p in sorted((ws / "runs").glob("*.json")) + sorted((ws / "runs" / "failed").glob("*.json"))
             if p.relative_to(ws / "runs").as_posix() not in before]
    runs, device = [], {}
    for path in paths:
        record = json.loads(path.read_text())
        device = device or record["device"]
        kind, parts = run_parts(record)
        runs.append({"run_key": record["run_key"], "arm": record.get("arm"), "seed": record["seed"],
                     "flags": record["flags"], "status": record["status"], "kind": kind, "role": role_of(record),
                     "seconds": sum(parts.values()), "parts": parts})
    journal = json.loads(Workspace(ws).journal_json(label).read_text())
    ideas = []
    sandbox_jobs = 0.0
    for entry in journal["entries"]:
        impl = entry.get("implementation", {})
        sandbox_jobs += sum(a.get("smoke_s", 0.0) + a.get("configure_s", 0.0) for a in impl.get("attempts", []))
        decision = judged(entry)
        confirmation = next((d for d in entry.get("decisions", []) if d.get("look") == 2), None)
        ideas.append({"idea": entry["idea"], "slot": entry["slot"],
                      "written_by": "model" if impl.get("generated") else "built-in",
                      "status": entry["status_history"][-1]["status"], "judged": decision is not None,
                      "gate": decision and {"look": decision["look"], "d": decision["d"],
                                            "decision": decision["decision"]},
                      "confirmation": confirmation and {"seeds": len(confirmation["seeds"]),
                                                        "evidence": (confirmation.get("evidence") or {}).get("level")}})
    model_calls = sum(t.get("latency_s") or 0.0 for t in TranscriptStore.for_workspace(ws).all())
    run_s = sum(r["seconds"] for r in runs)
    return {"name": name, "workspace": str(ws), "device": device, "wall_s": wall_s, "ideas": ideas,
            "ideas_judged": sum(i["judged"] for i in ideas),
            "confirmations": sum(i["confirmation"] is not None for i in ideas), "runs": runs, "run_s": run_s,
            "sandbox_jobs_s": sandbox_jobs, "model_calls_s": model_calls,
            "other_s": wall_s - run_s - sandbox_jobs - model_calls}


def summarize(studies: list[dict]) -> dict:
    """The benchmark's figures over all studies (see the module docstring)."""
    runs = [r for s in studies for r in s["runs"]]
    wall = sum(s["wall_s"] for s in studies)
    n_judged = sum(s["ideas_judged"] for s in studies)
    confirmation_s = sum(r["seconds"] for r in runs if r["role"] == "confirmation")
    per_kind = {}
    for kind, names in (("in-process", IN_PROCESS_PARTS), ("sandboxed", SANDBOXED_PARTS)):
        rows = [r for r in runs if r["kind"] == kind]
        secs = [r["seconds"] for r in rows]
        per_kind[kind] = {"runs": len(rows), "total_s": sum(secs),
                          "mean_s": statistics.mean(secs) if secs else None,
                          "median_s": statistics.median(secs) if secs else None,
                          "min_s": min(secs) if secs else None, "max_s": max(secs) if secs else None,
                          "roles": {role: sum(r["role"] == role for r in rows)
                                    for role in ("verification", "arm", "extension", "confirmation")},
                          "parts_s": {p: sum(r["parts"][p] for r in rows) for p in names}}
    split = {}
    for kind in per_kind.values():
        for part, s in kind["parts_s"].items():
            split[part] = split.get(part, 0.0) + s
    split["sandbox_jobs"] = sum(s["sandbox_jobs_s"] for s in studies)
    split["model_calls"] = sum(s["model_calls_s"] for s in studies)
    split["other"] = sum(s["other_s"] for s in studies)
    return {"ideas_judged": n_judged, "confirmations": sum(s["confirmations"] for s in studies),
            "phase2_wall_s": wall, "ideas_per_hour": 3600 * n_judged / wall if wall > 0 else None,
            "confirmation_runs_s": confirmation_s,
            "ideas_per_hour_without_confirmation": 3600 * n_judged / (wall - confirmation_s)
            if wall > confirmation_s else None,
            "seconds_per_run": per_kind, "time_split_s": split}


# -- driving the workflow ------------------------------------------------------------------------

def pytest_phase(ws: Path, log_name: str, args: list[str], common: list[str], env: dict) -> float:
    """Run `pytest experiments/ ARGS` in workspace `ws`; its wall seconds. Any failed or
    erroring test stops the benchmark with the log's tail (skips and xfails are the loop's
    normal outcomes)."""
    cmd = [sys.executable, "-m", "pytest", "experiments", *args, *common]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (ws / f"{log_name}.log").write_text(proc.stdout + proc.stderr)
    last = (proc.stdout.strip().splitlines() or [""])[-1].strip("= ")
    print(f"[ideas/h] {log_name}: exit {proc.returncode} in {wall:.1f} s ({last})", flush=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise SystemExit(f"{' '.join(cmd)} failed in {ws} (exit {proc.returncode}):\n{tail}")
    return wall


def new_workspace(path: Path) -> Path:
    path.mkdir(parents=True)
    shutil.copytree(ROOT / "experiments", path / "experiments", ignore=shutil.ignore_patterns("__pycache__"))
    return path


def store_files(ws: Path) -> set:
    runs = ws / "runs"
    return {p.relative_to(runs).as_posix() for p in [*runs.glob("*.json"), *runs.glob("failed/*.json")]}


def measure(args) -> dict:
    from research_harness.workspace import token_label

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ideas-per-hour-"))
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"--workdir {work} is not empty: the benchmark measures fresh studies (stored runs would be "
                         "reused, not timed)")
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    env.setdefault("RESEARCH_DATA_DIR", str(work / "processed_data"))  # one data cache for both workspaces
    label = token_label(args.tokens)
    builtin, model = work / "builtin", work / "model-written"
    common = ["--research-preset", args.preset, "--research-tokens", str(args.tokens), "--research-device",
              args.device, "-p", "no:cacheprovider", "-q", "-rsx"]
    confirm = [] if args.confirm else ["--research-no-confirm"]

    new_workspace(builtin)
    phase1_s = pytest_phase(builtin, "phase1", ["-m", "research_baseline", "--research-dir", str(builtin)],
                            common, env)
    new_workspace(model)  # the same baseline: its records and report, so it never trains twice
    shutil.copytree(builtin / "runs", model / "runs", ignore=shutil.ignore_patterns(".locks"))
    shutil.copytree(builtin / "docs", model / "docs")

    studies = []
    before = store_files(builtin)
    wall = pytest_phase(builtin, "phase2_builtin", ["-m", "research_discovery", "--research-dir", str(builtin),
                                                    "--research-agent", "catalogue", "--research-agent-seed",
                                                    str(args.agent_seed), *confirm], common, env)
    studies.append(study_figures("built-in", builtin, label, before, wall))

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.agent_server import ScriptedLLMServer

    with ScriptedLLMServer() as server:
        for task, reply in SCRIPT.items():
            server.always(task, reply)
        model_env = {**env, "RESEARCH_LLM_BASE_URL": server.base_url, "RESEARCH_LLM_MODEL": "scripted-model",
                     "RESEARCH_LLM_API_KEY": "benchmark"}
        before = store_files(model)
        wall = pytest_phase(model, "phase2_model_written",
                            ["-m", "research_discovery", "-k", "TestIdea1", "--research-dir", str(model),
                             "--research-agent", "openai", "--research-sandbox", args.sandbox, *confirm],
                            common, model_env)
        asked = sorted({r["task"] for r in server.requests})
    studies.append(study_figures("model-written", model, label, before, wall))
    if not any(i["written_by"] == "model" for i in studies[-1]["ideas"]):
        raise SystemExit(f"the model-written study selected no model-written idea (the server was asked {asked})")

    device = next((s["device"] for s in studies if s["device"]), {})
    out = {"preset": args.preset, "tokens": args.tokens, "device": device, "sandbox": args.sandbox,
           "confirm": args.confirm, "agent_seed": args.agent_seed, "phase1_wall_s": phase1_s, "model_tasks": asked,
           **summarize(studies), "studies": studies, "workdir": str(work)}
    if not args.workdir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        out["workdir"] = None
    return out


def print_figures(out: dict) -> None:
    dev = out["device"]
    print(f"[ideas/h] preset {out['preset']}, {out['tokens']:,} tokens per run, {dev.get('type')} "
          f"({dev.get('name')}, {dev.get('threads')} threads, torch {dev.get('torch')}), sandbox {out['sandbox']}, "
          f"confirmation {'on' if out['confirm'] else 'off'}")
    for s in out["studies"]:
        ideas = ", ".join(f"{i['idea']} ({i['written_by']}): "
                          + (f"d = {i['gate']['d']:.3f} -> {i['gate']['decision']}" if i["judged"] else i["status"])
                          + (f", confirmation on {i['confirmation']['seeds']} seeds: {i['confirmation']['evidence']}"
                             if i["confirmation"] else "") for i in s["ideas"])
        print(f"[ideas/h] study {s['name']}: phase 2 in {s['wall_s']:.1f} s, {len(s['runs'])} runs trained, "
              f"{s['ideas_judged']} idea(s) judged: {ideas}")
    print(f"[ideas/h] {out['ideas_judged']} ideas judged in {out['phase2_wall_s']:.1f} s of phase 2: "
          f"{out['ideas_per_hour']:.1f} ideas judged per hour"
          + (f" ({out['ideas_per_hour_without_confirmation']:.1f} leaving out the {out['confirmations']} "
             f"confirmation(s)' {out['confirmation_runs_s']:.1f} s of runs)" if out["confirmations"] else "")
          + f"; phase 1 (shared, not counted) took {out['phase1_wall_s']:.1f} s")
    for kind, k in out["seconds_per_run"].items():
        if k["runs"]:
            roles = ", ".join(f"{n} {role}" for role, n in k["roles"].items() if n)
            print(f"[ideas/h] {kind}: {k['runs']} runs ({roles}), {k['mean_s']:.2f} s per run (median "
                  f"{k['median_s']:.2f}, {k['min_s']:.2f} - {k['max_s']:.2f})")
        else:
            print(f"[ideas/h] {kind}: no runs")
    print("[ideas/h] where phase 2's time went:")
    for part, s in out["time_split_s"].items():
        print(f"  {s:9.2f} s  {100 * s / out['phase2_wall_s']:5.1f}%  {part}: {PART_WORDS[part]}")


def main(argv: list[str] | None = None) -> int:
    from trainer.config import PRESETS, resolve_device

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                   help="trainer preset: tiny (CPU tests), cpu-small, gpu-88m (default tiny)")
    p.add_argument("--tokens", type=int, default=None,
                   help="training tokens per run (default 3000 at tiny, else 1000000, the research scale)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--agent-seed", type=int, default=0, help="the catalogue's seed: which built-in ideas (default 0)")
    p.add_argument("--no-confirm", dest="confirm", action="store_false",
                   help="skip the confirmation on fresh seeds (--research-no-confirm)")
    p.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap",
                   help="where the model-written idea trains (default bwrap; none: a child process, no sandbox)")
    p.add_argument("--workdir", default=None, help="an empty or new folder for the workspaces, kept afterwards "
                                                   "(default: a temporary folder, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if args.tokens is None:
        args.tokens = 3000 if args.preset == "tiny" else 1_000_000
    if args.tokens <= 0:
        p.error(f"--tokens must be positive, got {args.tokens}")
    try:
        resolve_device(args.device)
    except (ValueError, RuntimeError) as exc:
        p.error(f"--device: {exc}")
    if args.sandbox == "bwrap":
        from research_harness.sandbox import bwrap

        problem = bwrap.probe()
        if problem:
            print(f"no sandbox can start here: {problem} (--sandbox none runs the model's idea unsandboxed)",
                  file=sys.stderr)
            return 2
    if importlib.util.find_spec("openai") is None:  # the model-written study's transport, in its pytest process
        print("the model-written study needs the [agent] extra: pip install 'research_harness[agent]'", file=sys.stderr)
        return 2
    out = measure(args)
    print_figures(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
