"""`--research-report`: at the session's end, write every report whose data is complete,
from stored records only. The workflow's side of the reports: it loads what each report
shows and writes the files; the renderers in research_harness.reports only turn data into text."""

from __future__ import annotations

from pathlib import Path

from research_harness import baseline
from research_harness.discovery.study import write_discovery_reports
from research_harness.runner import Runner


def write_reports(runner: Runner) -> list[Path]:
    written: list[Path] = []
    try:
        base = baseline.load(runner, train_missing=False)
    except Exception as exc:  # noqa: BLE001 - a report problem must not hide the test results
        runner.log(f"[research] baseline report not written: {exc}")
        return written
    path = baseline.write_report(runner, base)
    if path:
        written.append(path)
    elif base.source != "records":
        written.append(Path(base.source))
    else:
        runner.log(f"[research] baseline report not written: {len(base.records)} of 5 baseline seeds are stored")
    try:
        written.extend(write_discovery_reports(runner))
    except Exception as exc:  # noqa: BLE001 - a report problem must not hide the test results
        runner.log(f"[research] discovery reports not written: {type(exc).__name__}: {exc}")
    return written
