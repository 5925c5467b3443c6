"""The Rollout simulation the drill plays, on the rendered dev and prod Rollouts with scripted
measurements and Jobs: the schedule (startingStep, initialDelay, interval, the 10 s error retry,
pauses) and what the Rollout does with each run, as argo-rollouts v1.8.3 does it (the drill adds
real measurements and runs the real check)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.drill import environment_rollout
from gitops.rollout_sim import Measure, RunJob, scale_windows, simulate

SPEEDUP = 1200  # a Rollout minute in 50 ms
ARGS = {
    "canary-hash": "abc",
    "stable-hash": "def",
    "namespace": "classifier-dev",
    "prometheus": "http://prometheus",
}


def scripted(error_rate: float | None, p99: float | None = 0.1, error: str | None = None) -> Measure:
    """Every measurement of error-rate and latency-p99 answers the same; None is no data."""

    def measure(query: str) -> tuple[list[float] | None, str | None]:
        if error:
            return None, error
        value = p99 if "histogram_quantile" in query else error_rate
        return ([] if value is None else [value]), None

    return measure


def play(
    environment: str, measure: Measure, run_job: RunJob = lambda job: "Successful"
) -> tuple[str, float, tuple[tuple[str, str], ...]]:
    rollout, templates = environment_rollout(environment)
    outcome = simulate(rollout, templates, ARGS, measure, SPEEDUP, timeout_seconds=10, run_job=run_job)
    return outcome.action, outcome.seconds, outcome.phases


def test_a_healthy_canary_is_promoted_after_three_passing_step_measurements() -> None:
    # dev: setWeight 50, the paired check, a minute's pause, then the step analysis at 60, 120,
    # 180 beside the paired check again.
    assert play("dev", scripted(0.0)) == (
        "promoted",
        180,
        (("Background", "Successful"), ("Step", "Successful"), ("Step", "Successful")),
    )


def test_a_wrong_model_is_aborted_by_the_paired_check_before_any_traffic_in_prod() -> None:
    """prod's first steps: one canary pod at 0% traffic and the paired Job; the background
    analysis starts with traffic (startingStep 3), so it never ran."""
    assert play("prod", scripted(0.0), run_job=lambda job: "Failed") == ("aborted", 0, (("Step", "Failed"),))
    action, seconds, phases = play("dev", scripted(0.0), run_job=lambda job: "Failed")
    assert (action, seconds, phases[-1]) == ("aborted", 0, ("Step", "Failed"))


def test_the_paired_job_gets_the_templates_floors_and_the_rollouts_overrides() -> None:
    jobs: list[dict[str, Any]] = []

    def run_job(job: dict[str, Any]) -> str:
        jobs.append(job)
        return "Successful"

    play("dev", scripted(0.0), run_job)
    (command,) = {tuple(job["template"]["spec"]["containers"][0]["command"]) for job in jobs}
    assert "--same-model-min-agreement=0.95" in command
    assert not any("{{" in part for part in command)
    rollout, templates = environment_rollout("dev")
    step = next(s for s in rollout["spec"]["strategy"]["canary"]["steps"] if "analysis" in s)
    overridden = {**rollout}
    overridden["spec"] = {"strategy": {"canary": {"steps": [
        {"analysis": {**step["analysis"], "args": [{"name": "new-model-min-agreement", "value": "0.2"}]}}
    ]}}}  # fmt: skip
    jobs.clear()
    simulate(overridden, templates, ARGS, scripted(0.0), SPEEDUP, 10, run_job=run_job)
    assert "--new-model-min-agreement=0.2" in jobs[0]["template"]["spec"]["containers"][0]["command"]


def test_an_erroring_canary_is_aborted_by_the_first_failed_step_measurement() -> None:
    action, seconds, phases = play("dev", scripted(0.05))
    assert (action, seconds) == ("aborted", 60)
    assert ("Step", "Failed") in phases  # the background run, cancelled, ends Successful upstream


def test_in_prod_the_background_analysis_aborts_on_its_second_failure() -> None:
    # prod passes the paired check, then stays ten minutes on its first traffic step: the
    # background measures at 60 and 120.
    passed_paired_check = ("Step", "Successful")
    assert play("prod", scripted(0.05)) == ("aborted", 120, (("Background", "Failed"), passed_paired_check))
    assert play("prod", scripted(0.0, p99=0.5)) == (
        "aborted",
        120,
        (("Background", "Failed"), passed_paired_check),
    )


def test_no_data_never_passes() -> None:
    assert play("dev", scripted(None, None))[:2] == ("paused", 60)  # the step's first measurement
    assert play("prod", scripted(None, None)) == (
        "paused",
        240,
        (("Background", "Inconclusive"), ("Step", "Successful")),
    )


def test_prometheus_unreachable_aborts_on_the_fifth_error_ten_seconds_apart() -> None:
    # Both runs measure first at 60 and retry every 10 s: the fifth error in a row is at 100.
    action, seconds, phases = play("dev", scripted(0.0, error="connection refused"))
    assert (action, seconds) == ("aborted", 100)
    assert ("Step", "Error") in phases


@pytest.mark.parametrize(
    ("query", "speedup", "expected"),
    [
        ("rate(x[2m])", 20, "rate(x[6s])"),
        ("rate(x[1m30s])", 10, "rate(x[9s])"),
        ("rate(x[5s])", 100, "rate(x[1s])"),
        ("max_over_time(x[1h:1m]) offset 1d", 12, "max_over_time(x[300s:5s]) offset 7200s"),
    ],
)
def test_range_windows_shrink_with_the_clock(query: str, speedup: float, expected: str) -> None:
    assert scale_windows(query, speedup) == expected
