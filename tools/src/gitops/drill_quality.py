"""The drill's model-quality parts: the job metric's Job run as a local process, and single
measurements of a template's metrics (the SLO ones a wrong model must pass anyway, so that the
model-quality metrics alone decide; the live model-quality ones).

The paired check's Job (rollouts/files/analysis-quality-paired.yaml) runs
`classifier-quality-check` from the release's image against the canary and stable Services. Here
the same command, as the rendered Job spec has it, runs against the drill's processes: the
Services' URLs become the processes', the image's golden set a copy written by the same code
(classifier_modelbuild.golden), and the token file goes (the drill's services ask for none). Exit 0
is a Successful measurement, anything else Failed, a run past the Job's activeDeadlineSeconds too
(argo-rollouts v1.8.3 metricproviders/job/job.go:186-195; Kubernetes fails a Job past its
deadline).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from gitops.analysis_model import Phase, measurement_phase
from gitops.render import Manifest
from gitops.rollout_sim import Measure, RunJob, start_run

CHECK = "classifier-quality-check"


def local_command(job: dict[str, Any], canary: str, stable: str, golden: Path) -> list[str]:
    """The Job's one container's command, pointed at the drill's processes and golden set."""
    (container,) = job["template"]["spec"]["containers"]
    program, *arguments = container["command"]
    if program != CHECK:
        raise ValueError(f"the drill runs {CHECK} Jobs only, not {program!r}")
    local = {"--canary": canary, "--stable": stable, "--golden": str(golden)}
    command = [sys.executable, "-m", "classifier.quality_check"]
    for argument in arguments:
        flag, _, value = argument.partition("=")
        if flag == "--token-file":
            continue
        command.append(f"{flag}={local.get(flag, value)}")
    return command


def job_runner(canary: str, stable: str, golden: Path, reports: list[dict[str, Any]]) -> RunJob:
    """Runs a play's Jobs; each check's JSON report is appended to `reports`."""

    def run_job(job: dict[str, Any]) -> Phase:
        command = local_command(job, canary, stable, golden)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=job.get("activeDeadlineSeconds"), check=False
            )
        except subprocess.TimeoutExpired:
            reports.append({"verdict": "deadline exceeded"})
            return "Failed"
        lines = done.stdout.strip().splitlines()
        reports.append(json.loads(lines[-1]) if lines else {"verdict": f"no report: {done.stderr[-200:]}"})
        return "Successful" if done.returncode == 0 else "Failed"

    return run_job


def once(run_job: RunJob) -> RunJob:
    """The same Job spec against the same processes gets the first run's verdict: the check is
    deterministic (the same model gives the same answers to the same images)."""
    verdicts: dict[str, Phase] = {}
    lock = threading.Lock()  # plays in other threads wait for the first run's verdict

    def cached(job: dict[str, Any]) -> Phase:
        key = json.dumps(job, sort_keys=True)
        with lock:
            if key not in verdicts:
                verdicts[key] = run_job(job)
            return verdicts[key]

    return cached


def paired_job(templates: dict[str, Manifest], template_name: str) -> dict[str, Any]:
    """The paired check's Job spec as a run renders it with the template's own argument values."""
    run = start_run("Step", {"templates": [{"templateName": template_name}]}, templates, {}, 0.0, 1.0)
    (job,) = run.jobs.values()
    return job


def measure_once(
    templates: dict[str, Manifest], name: str, args: dict[str, str], measure: Measure, speedup: float
) -> dict[str, tuple[Phase, list[float] | None]]:
    """One measurement of each of a template's Prometheus metrics, rendered as a run renders
    them and judged as Argo Rollouts would: metric -> (phase, the query's values)."""
    run = start_run("Step", {"templates": [{"templateName": name}]}, templates, args, 0.0, speedup)
    measured = {}
    for spec in run.specs:
        result, error = measure(run.queries[spec.name])
        measured[spec.name] = (measurement_phase(spec, result, error), result)
    return measured
