"""The Rollout simulation the drill plays, on the rendered dev and prod Rollouts with scripted
measurements: the schedule (initialDelay, interval, the 10 s error retry, pauses) and what the
Rollout does with each run, as argo-rollouts v1.8.3 does it (the drill adds real measurements)."""

from __future__ import annotations

import pytest

from gitops.drill import environment_rollout
from gitops.rollout_sim import Measure, scale_windows, simulate

SPEEDUP = 1200  # a Rollout minute in 50 ms
ARGS = {"canary-hash": "abc", "namespace": "classifier-dev", "prometheus": "http://prometheus"}


def scripted(error_rate: float | None, p99: float | None = 0.1, error: str | None = None) -> Measure:
    """Every measurement of error-rate and latency-p99 answers the same; None is no data."""

    def measure(query: str) -> tuple[list[float] | None, str | None]:
        if error:
            return None, error
        value = p99 if "histogram_quantile" in query else error_rate
        return ([] if value is None else [value]), None

    return measure


def play(environment: str, measure: Measure) -> tuple[str, float, tuple[tuple[str, str], ...]]:
    rollout, templates = environment_rollout(environment)
    outcome = simulate(rollout, templates, ARGS, measure, SPEEDUP, timeout_seconds=10)
    return outcome.action, outcome.seconds, outcome.phases


def test_a_healthy_canary_is_promoted_after_three_passing_step_measurements() -> None:
    # dev: setWeight 50, a minute's pause, then the step analysis at 60, 120, 180.
    assert play("dev", scripted(0.0)) == (
        "promoted",
        180,
        (("Background", "Successful"), ("Step", "Successful")),
    )


def test_an_erroring_canary_is_aborted_by_the_first_failed_step_measurement() -> None:
    action, seconds, phases = play("dev", scripted(0.05))
    assert (action, seconds) == ("aborted", 60)
    assert ("Step", "Failed") in phases  # the background run, cancelled, ends Successful upstream


def test_in_prod_the_background_analysis_aborts_on_its_second_failure() -> None:
    # prod stays ten minutes on its first step: the background measures at 60 and 120.
    assert play("prod", scripted(0.05)) == ("aborted", 120, (("Background", "Failed"),))
    assert play("prod", scripted(0.0, p99=0.5)) == ("aborted", 120, (("Background", "Failed"),))


def test_no_data_never_passes() -> None:
    assert play("dev", scripted(None, None))[:2] == ("paused", 60)  # the step's first measurement
    assert play("prod", scripted(None, None)) == ("paused", 240, (("Background", "Inconclusive"),))


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
