"""The committed performance report is the benchmark's own rendering, and its verdicts follow the numbers."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import bench_service  # noqa: E402

REPORT_MD = BENCHMARKS.parent / "docs" / "performance.md"


@pytest.fixture
def report() -> dict[str, Any]:
    saved: dict[str, Any] = json.loads(REPORT_MD.with_suffix(".json").read_text())
    return saved


def _verdicts(report: dict[str, Any]) -> dict[str, bool]:
    return {name: met for name, _, met in bench_service.targets(report)}


def test_committed_markdown_is_rendered_from_the_committed_json(report: dict[str, Any]) -> None:
    command = "make bench   # = .venv/bin/python benchmarks/bench_service.py --output docs/performance.md"
    assert bench_service.markdown(report, command) == REPORT_MD.read_text(), (
        "docs/performance.md differs from its JSON: run `benchmarks/bench_service.py --render-only`"
    )


def test_the_http_share_is_judged_within_the_median_round(report: dict[str, Any]) -> None:
    name = "1. c=32 HTTP >= 90% of the in-process all-cores limit (median round)"
    for measured in report["rounds"]:
        _set_limits(measured, measured["c32"]["ok_rps"] / 0.95)
    assert _verdicts(report)[name]
    slow = copy.deepcopy(report)
    majority = len(slow["rounds"]) // 2 + 1
    for measured in slow["rounds"][:majority]:  # most rounds below 90%: so is the median
        _set_limits(measured, measured["c32"]["ok_rps"] / 0.85)
    assert not _verdicts(slow)[name]


def test_the_limit_is_the_configuration_with_the_better_median_and_averages_before_and_after(
    report: dict[str, Any],
) -> None:
    for number, measured in enumerate(report["rounds"]):
        _set_limits(measured, 100.0)
        measured["limits"]["before"]["processes"] = 90.0
        measured["limits"]["after"]["processes"] = 130.0 if number == 0 else 104.0  # median 97: better
        measured["limits"]["after"]["threads"] = 200.0 if number == 0 else 90.0  # one lucky sample: 95
    rounds = bench_service.with_limits(report["rounds"])
    assert {r["limit_configuration"] for r in rounds} == {"processes"}
    assert [r["limit_images_per_s"] for r in rounds] == [110.0] + [97.0] * (len(rounds) - 1)


def _set_limits(measured: dict[str, Any], images_per_s: float) -> None:
    for moment in ("before", "after"):
        measured["limits"][moment] = {"processes": images_per_s, "threads": images_per_s}


def test_a_refusal_later_than_the_admission_wait_fails_the_overload_target(report: dict[str, Any]) -> None:
    name = "4. c=256: a 429 comes once the admission wait (1 s) is over, not later"
    report["overload"]["p99_ms_by_status"]["429"] = 1100.0
    assert _verdicts(report)[name]
    report["overload"]["p99_ms_by_status"]["429"] = 1400.0
    assert not _verdicts(report)[name]


def test_goodput_under_aggressive_overload_is_judged_against_c32(report: dict[str, Any]) -> None:
    name = "5. c=256, clients ignore Retry-After: goodput >= 80% of c=32 throughput"
    c32 = next(r for r in report["http"] if r["server"] == "classifier" and r["concurrency"] == 32)
    report["overload_ignoring_retry_after"]["ok_rps"] = 0.81 * c32["ok_rps"]
    assert _verdicts(report)[name]
    report["overload_ignoring_retry_after"]["ok_rps"] = 0.79 * c32["ok_rps"]
    assert not _verdicts(report)[name]


def test_tail_bound_is_one_and_a_half_times_littles_law_latency() -> None:
    assert bench_service.tail_bound_ms({"concurrency": 8, "throughput_rps": 80.0}) == pytest.approx(150.0)
