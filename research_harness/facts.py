"""What the run records show about how the runs were made: the hardware, whether they
ran one after another, whether their wall times can be compared, and what differs
between the arms' configurations. Reports and the paper word these claims from here,
never from assumptions ("same hardware", "sequential", "comparable", "no retuning")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

# Wall times are compared only when runs of identical code and configuration agree on
# throughput within this factor: a loaded host (seen here: a 7.8-fold spread) would
# otherwise pass its own noise off as an effect of the idea on speed.
MAX_TPS_SPREAD = 1.2


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(control: list[dict], experimental: list[dict]) -> list[str]:
    """Configuration fields (as dotted paths) whose values differ between the two arms."""
    a = _flatten(control[0]["config"]) if control else {}
    b = _flatten(experimental[0]["config"]) if experimental else {}
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _same_code(record: dict) -> str:
    return json.dumps([record.get("code_fingerprint"), sorted(record.get("flags") or []), record.get("config"),
                       record["device"].get("type")], sort_keys=True, default=str)


@dataclass(frozen=True)
class RunFacts:
    n_distinct: int
    device_names: tuple[str, ...]
    hosts: tuple[str, ...]
    overlapping_pairs: int
    executors: tuple[str, ...]  # how the runs were trained: "local", "sandbox" (model-written code), "ray"
    tps_spread: float  # largest max/min tokens/s among runs of identical code and configuration
    first_started: str
    last_finished: str
    unsandboxed: int = 0  # runs of model-written code trained without a sandbox (--research-sandbox none)

    @property
    def same_hardware(self) -> bool:
        return len(self.device_names) == 1 and len(self.hosts) <= 1

    @property
    def sequential(self) -> bool:
        return self.overlapping_pairs == 0

    @property
    def wall_times_comparable(self) -> bool:
        return self.same_hardware and self.sequential and self.tps_spread <= MAX_TPS_SPREAD and \
            len(self.executors) <= 1

    def wall_time_reason(self) -> str:
        """Why wall times cannot be compared ("" when they can)."""
        reasons = []
        if not self.same_hardware:
            reasons.append(f"the runs used {len(self.device_names)} device(s) on {len(self.hosts)} host(s)")
        if not self.sequential:
            reasons.append(f"{self.overlapping_pairs} pair(s) of runs overlapped in time")
        if self.tps_spread > MAX_TPS_SPREAD:
            reasons.append("runs of identical code differ in throughput by more than the allowed factor")
        if len(self.executors) > 1:
            reasons.append(f"the runs were trained in different ways ({', '.join(self.executors)}), each with its "
                           "own start-up costs")
        return "; ".join(reasons)


def run_facts(records: list[dict]) -> RunFacts:
    distinct = {r["run_key"]: r for r in records}
    runs = list(distinct.values())
    spans = sorted((datetime.fromisoformat(r["started"]), datetime.fromisoformat(r["finished"])) for r in runs)
    overlaps = sum(1 for i, (_, end) in enumerate(spans) for start, _ in spans[i + 1:] if start < end)
    groups: dict[str, list[float]] = {}
    for r in runs:
        groups.setdefault(_same_code(r), []).append(float(r["tokens_per_s"]))
    spread = max((max(v) / min(v) for v in groups.values() if len(v) > 1 and min(v) > 0), default=1.0)
    return RunFacts(
        n_distinct=len(runs),
        device_names=tuple(sorted({str(r["device"].get("name")) for r in runs})),
        hosts=tuple(sorted({str(r["device"].get("host")) for r in runs if r["device"].get("host")})),
        overlapping_pairs=overlaps, tps_spread=spread,
        executors=tuple(sorted({r.get("executor", "local") for r in runs})),
        first_started=min(r["started"] for r in runs), last_finished=max(r["finished"] for r in runs),
        unsandboxed=sum(1 for r in runs if (r.get("sandbox") or {}).get("mode") == "none"),
    )


UNSANDBOXED = "model-written code ran without a sandbox (--research-sandbox none)"
