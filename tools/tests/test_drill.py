"""The canary drill against a real Prometheus and real service processes: whole AnalysisRuns in
compressed time, three rounds that must agree (healthy promoted, 5% errors and +400 ms aborted,
from the start or from three minutes in, no traffic paused, Prometheus gone aborted), and the
burn-rate alert's expression true for the erroring canary; then the model-quality cases (lite2
promoted, lite0's int8 build promoted as the same network,
four defects of lite0 aborted by the paired check, labels out of order aborted by the
live metrics alone where the paired floors are lowered, all within the SLO). About nine minutes;
the table is printed after the test run."""

from __future__ import annotations

import pytest

from classifier_testkit.artifacts import default_artifact, int8_artifact
from gitops.drill import CASES, OUTAGE, QUALITY_CASES, run_drill


@pytest.fixture(scope="module")
def artifact_built() -> None:
    default_artifact()  # the drill's services load it
    int8_artifact()


def test_drill_verdicts_are_argo_rollouts_and_agree_every_round(
    artifact_built: None, tables: list[tuple[str, str]]
) -> None:
    report = run_drill(rounds=3)
    tables.append(("canary drill (`make drill`):", report.table()))
    assert report.problems() == [], report.table()
    plays = [play for case in (*CASES, OUTAGE, *QUALITY_CASES) for play in case.plays()]
    assert sorted(report.outcomes) == sorted(plays)
    # Times are on the Rollout's schedule (one measurement a minute, the background's first after
    # a minute, errors retried every 10 s), so they are exact where the fault is there from the start.
    expected_seconds = {
        "healthy (dev)": 180,  # a minute's pause, then three passing measurements a minute apart
        "errors (dev)": 60,  # the step analysis's first measurement, after the pause
        "errors (prod)": 120,  # the background's second failed measurement
        "idle (prod)": 240,  # the background's fourth inconclusive measurement
        "prometheus-down (dev)": 160,  # the fifth error in a row: 120, 130, ..., 160
    }
    for play, seconds in expected_seconds.items():
        assert [o.seconds for o in report.outcomes[play]] == [seconds] * 3, play
    # A breach that begins mid-rollout must fill part of the 2-minute rate window first.
    late = next(case for case in CASES if case.breach_at)
    for outcome in report.outcomes[late.plays()[0]]:
        assert 60 <= outcome.seconds - late.breach_at <= 300
    # A defect is aborted by the paired check before prod's canary takes any traffic: its only run
    # is that step's (the background analysis starts with the first setWeight).
    for case in QUALITY_CASES:
        if case.defect and case.paired_floors is None:
            assert {o.phases for o in report.outcomes[f"{case.name} (prod)"]} == {(("Step", "Failed"),)}
    assert report.seconds < 900
