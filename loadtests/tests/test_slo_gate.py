"""The SLO gate on synthetic stats and on a real locust run against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from classifier_testkit.server import local_server
from gitops.paths import REPO_ROOT
from gitops.slo import load_slo

sys.path.insert(0, str(REPO_ROOT / "loadtests"))

from scenarios import SCENARIOS
from slo_gate import evaluate

SLO = load_slo(REPO_ROOT / "platform/slo/slos.yaml")


def stats(route: str, times: dict[str, int], failures: int = 0) -> list[dict[str, object]]:
    return [
        {
            "name": route,
            "num_requests": sum(times.values()),
            "num_failures": failures,
            "response_times": times,
        }
    ]


def test_fast_and_clean_passes() -> None:
    result = evaluate(stats("/v1/classify", {"20": 990, "250": 10}), SLO)
    assert result.problems() == []
    assert result.p99_ms == 20


def test_slow_tail_fails() -> None:
    result = evaluate(stats("/v1/classify", {"20": 980, "900": 20}), SLO)
    assert any("p99 900 ms exceeds 300 ms" in p for p in result.problems())


def test_errors_over_budget_fail_and_other_routes_do_not_count() -> None:
    mixed = [
        *stats("/v1/classify", {"20": 1000}, failures=5),
        *stats("/v2/models/x/ready", {"1": 10**6}, failures=0),
    ]
    result = evaluate(mixed, SLO)
    assert result.requests == 1000
    assert any("error rate 0.5000% exceeds the budget 0.1000%" in p for p in result.problems())


def test_stress_reports_but_does_not_gate() -> None:
    assert not SCENARIOS["stress"].gate
    assert all(SCENARIOS[name].gate for name in ("smoke", "baseline", "soak"))


@pytest.fixture
def server() -> Iterator[str]:
    artifact = str(REPO_ROOT / "artifacts/efficientnet-lite0/1")
    with local_server({"CLASSIFIER_LOG_LEVEL": "warning", "CLASSIFIER_MODEL_DIR": artifact}) as running:
        yield running.base_url


def test_real_locust_run_passes_the_gate(server: str, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadtests/locustfile.py"), "--headless",
         "--host", server, "-u", "3", "-r", "3", "-t", "6s", "--json-file", str(tmp_path / "stats"),
         "--only-summary"],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    result = evaluate(json.loads((tmp_path / "stats.json").read_text()), SLO)
    assert result.requests > 5
    assert result.problems() == [], result.summary()
