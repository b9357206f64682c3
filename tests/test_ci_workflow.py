"""The GitHub Actions workflow: valid against GitHub's workflow schema (the copy that ships
inside check-jsonschema, so this runs offline), and its jobs run the project's own CI
scripts, which exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("check_jsonschema", reason="needs the [test] extra: pip install 'research_harness[test]' "
                    "(or pip install check-jsonschema)")
# check-jsonschema parses YAML with ruamel.yaml, so it is here whenever the check can run;
# it reads YAML 1.2, where the key `on` stays a string (PyYAML would turn it into True).
from ruamel.yaml import YAML  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow():
    return YAML(typ="safe").load(WORKFLOW.read_text())


def _runs(job) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_workflow_is_valid_against_githubs_schema():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cpu_job_runs_the_ci_script_on_a_hosted_runner(workflow):
    cpu = workflow["jobs"]["cpu"]
    assert cpu["runs-on"] == "ubuntu-latest"
    assert ".ci/run" in _runs(cpu)
    assert (ROOT / ".ci" / "run").is_file()


def test_the_gpu_job_runs_the_gpu_script_on_our_runner_and_uploads_its_output(workflow):
    gpu = workflow["jobs"]["gpu"]
    assert set(gpu["runs-on"]) == {"self-hosted", "gpu"}
    assert "scripts/gpu_ci.sh" in _runs(gpu)
    assert (ROOT / "scripts" / "gpu_ci.sh").is_file()
    # gpu_ci.sh writes to $OUT: the artifact must be that folder
    upload = [s for s in gpu["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert len(upload) == 1 and upload[0]["with"]["path"].rstrip("/") == gpu["env"]["OUT"].rstrip("/")


def test_one_run_per_branch_at_a_time(workflow):
    assert workflow["concurrency"] == {"group": "ci-${{ github.ref }}", "cancel-in-progress": True}
    assert {"push", "pull_request"} <= set(workflow["on"])
