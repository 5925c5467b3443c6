"""A Rollout's canary as Argo Rollouts runs it, in compressed time, for the drill.

The background analysis runs from its `startingStep` (the first step if none:
utils/replicaset/canary.go BeforeStartingStep, called from rollout/analysis.go); the steps' pauses
wait and their analyses run; after each measurement the
metric's and the run's phases are assessed and the Rollout acts on a finished run
(`gitops.analysis_model`, which mirrors argo-rollouts v1.8.3): it aborts on Failed or Error,
cancelling the other runs; pauses on Inconclusive; a step run's Successful moves to the next
step; after the last step it is promoted and the background run is terminated. Every
measurement is real: `measure` queries a real Prometheus, and `run_job` runs a job metric's
command against real services (Successful when it exits 0, Failed otherwise:
metricproviders/job/job.go:186-195). Durations (initialDelay, interval, pauses, the queries'
range windows) are divided by `speedup`; every time reported is the Rollout's own, on the
schedule upstream keeps (a measurement due at 60 s counts at 60 s). Left out: a setWeight or
setCanaryScale waiting for the canary to be available, and the background run measuring on
through the final scale-up (`IsFullyPromoted`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gitops.analysis_eval import render_args
from gitops.analysis_model import (
    COMPLETED,
    MetricResult,
    MetricSpec,
    Phase,
    assess_metric,
    assess_run,
    measurement_phase,
    record,
    rollout_action,
)
from gitops.durations import duration_seconds, scale_promql_durations
from gitops.render import Manifest

# A rendered PromQL query -> (values, None), or (None, the error) when Prometheus failed.
Measure = Callable[[str], tuple[list[float] | None, str | None]]
# A job metric's rendered Job spec -> the measurement's phase (Successful, Failed or Error).
RunJob = Callable[[dict[str, Any]], Phase]
TICK_SECONDS = 0.02
# A measurement that errored is retried after 10 s, not after the metric's interval
# (argo-rollouts v1.8.3 analysis/analysis.go DefaultErrorRetryInterval, generateMetricTasks).
ERROR_RETRY_SECONDS = 10.0


@dataclass(slots=True)
class Run:
    kind: str  # Background or Step
    specs: list[MetricSpec]
    queries: dict[str, str]  # a prometheus metric's rendered query
    jobs: dict[str, dict[str, Any]]  # a job metric's rendered Job spec
    due: dict[str, float]  # metric -> when (Rollout seconds) its next measurement is due
    results: dict[str, MetricResult] = field(default_factory=dict)
    phase: str = "Running"
    decided_at: float | None = None

    def summary(self) -> str:
        shown = ", ".join(
            f"{name} {''.join(p[0] for p in r.measurements)}" for name, r in self.results.items()
        )
        return f"{self.kind} {self.phase} ({shown})"


@dataclass(frozen=True, slots=True)
class Outcome:
    action: str  # promoted, aborted, paused, or unfinished
    seconds: float  # after the canary started, in the Rollout's own time
    runs: tuple[str, ...]  # each run's kind, phase and measurements (S, F, I, E)
    phases: tuple[tuple[str, str], ...]  # (kind, phase) of each run: the verdicts that must agree


def scale_windows(query: str, speedup: float) -> str:
    """Range selectors shrink with the clock, to whole seconds: `[2m]` at 20x is `[6s]`."""
    return scale_promql_durations(query, speedup, lambda seconds: f"{max(1, round(seconds))}s")


def start_run(
    kind: str,
    analysis: dict[str, Any],
    templates: dict[str, Manifest],
    args: dict[str, str],
    now: float,
    speedup: float,
) -> Run:
    """An AnalysisRun from a Rollout's `analysis` block: its templates' metrics (and dry-run
    rules), with the templates' arg defaults, then the Rollout's args (resolved by the caller),
    as upstream merges them (utils/analysis/factory.go)."""
    specs, queries, jobs, due = [], {}, {}, {}
    for ref in analysis.get("templates", []):
        template = templates[ref["templateName"]]
        values = {a["name"]: str(a["value"]) for a in template["spec"].get("args", []) if "value" in a}
        values |= args | {a["name"]: str(a["value"]) for a in analysis.get("args", []) if "value" in a}
        dry_run = {rule["metricName"] for rule in template["spec"].get("dryRun", [])}
        for metric in template["spec"]["metrics"]:
            spec = MetricSpec.from_template(metric, values, dry_run)
            specs.append(spec)
            provider = metric["provider"]
            if "job" in provider:
                jobs[spec.name] = json.loads(render_args(json.dumps(provider["job"]["spec"]), values))
            else:
                queries[spec.name] = scale_windows(
                    render_args(provider["prometheus"]["query"], values), speedup
                )
            due[spec.name] = now + spec.initial_delay_seconds
    return Run(kind, specs, queries, jobs, due, {s.name: MetricResult(s.name) for s in specs})


def measure_due(run: Run, now: float, measure: Measure, run_job: RunJob, speedup: float) -> None:
    """Take every measurement that is due, then assess each metric and the run. A Job's
    measurement lasts as long as the Job runs (in Rollout time), and the next is due an interval
    after it ends (analysis.go:233-243 times it from the last measurement's FinishedAt)."""
    for spec in run.specs:
        result, due = run.results[spec.name], run.due[spec.name]
        if result.phase in COMPLETED or due > now:
            continue
        if spec.name in run.jobs:
            started = time.monotonic()
            phase = run_job(run.jobs[spec.name])
            # In whole seconds, as the controller reads FinishedAt back (a metav1.Time).
            due += round((time.monotonic() - started) * speedup)
        else:
            values, error = measure(run.queries[spec.name])
            phase = measurement_phase(spec, values, error)
        result = record(spec, result, phase)
        run.results[spec.name] = replace(result, phase=assess_metric(spec, result))
        run.due[spec.name] = due + (ERROR_RETRY_SECONDS if phase == "Error" else spec.interval_seconds or 0)
        run.decided_at = due
    run.phase = assess_run(run.specs, list(run.results.values()))


def simulate(
    rollout: Manifest,
    templates: dict[str, Manifest],
    args: dict[str, str],
    measure: Measure,
    speedup: float,
    timeout_seconds: float,
    run_job: RunJob,
) -> Outcome:
    """Play the canary strategy against live measurements until the Rollout promotes, aborts or
    pauses. `args` resolves the Rollout's analysis args (canary-hash, namespace, prometheus)."""
    canary = rollout["spec"]["strategy"]["canary"]
    started = time.monotonic()
    runs: list[Run] = []
    background = canary.get("analysis")
    starting_step = int((background or {}).get("startingStep", 0))
    steps, index, step_run, pause_until, clock = list(canary.get("steps", [])), 0, None, None, 0.0

    def outcome(action: str, at: float, *, cancel: bool = False) -> Outcome:
        for run in runs:  # an abort cancels every run (rollout/analysis.go reconcileAnalysisRuns)
            if cancel and run.phase not in COMPLETED:
                run.phase = assess_run(run.specs, list(run.results.values()), terminating=True)
        return Outcome(action, at, tuple(r.summary() for r in runs), tuple((r.kind, r.phase) for r in runs))

    while time.monotonic() - started < timeout_seconds:
        now = (time.monotonic() - started) * speedup
        while step_run is None and pause_until is None and index < len(steps):
            if background and index >= starting_step:
                runs.insert(0, start_run("Background", background, templates, args, clock, speedup))
                background = None
            step = steps[index]
            if "pause" in step:
                if "duration" not in (step["pause"] or {}):
                    return outcome("paused", clock)  # an indefinite pause waits for a person
                pause_until = clock + (duration_seconds(str(step["pause"]["duration"])) or 0.0)
            elif "analysis" in step:
                step_run = start_run("Step", step["analysis"], templates, args, clock, speedup)
                runs.append(step_run)
            else:
                index += 1  # setWeight, setCanaryScale and the like change nothing measurable here
        if pause_until is not None and now >= pause_until:
            clock, pause_until, index = pause_until, None, index + 1
            continue
        for run in runs:
            if run.phase not in COMPLETED:
                measure_due(run, now, measure, run_job, speedup)
        for run in runs:
            action = rollout_action(run.kind, run.phase) if run.phase in COMPLETED else "keep-running"
            at = run.decided_at or clock
            if action == "abort":
                return outcome("aborted", at, cancel=True)
            if action == "pause":
                return outcome("paused", at)
            if action == "continue" and run is step_run:
                clock, step_run, index = at, None, index + 1
        if step_run is None and pause_until is None and index >= len(steps):
            return outcome("promoted", clock, cancel=True)  # promotion terminates the background run
        time.sleep(TICK_SECONDS)
    return outcome("unfinished", (time.monotonic() - started) * speedup)
