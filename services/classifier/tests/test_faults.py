"""Drill fault injection: off by default, and when on it does exactly what it says."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from classifier.config import Settings
from classifier.errors import InjectedFault
from classifier.faults import FaultInjector
from classifier_testkit.server import ServerProcess, StartServer


def test_faults_are_off_by_default(server: ServerProcess, coffee_jpeg: bytes) -> None:
    codes = {
        server.client.post(
            "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
        ).status_code
        for _ in range(10)
    }
    assert codes == {200}
    assert server.metric("classifier_fault_injection_enabled") == 0


def test_error_rate_one_answers_500_on_inference_routes_only(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    server = start_server(fault_error_rate="1.0")
    response = server.client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    assert response.status_code == 500
    assert "injected fault" in response.json()["error"]
    assert server.client.get("/v2/health/ready").status_code == 200
    assert server.metric("classifier_fault_injection_enabled") == 1
    assert any(record.get("event") == "fault_injection_enabled" for record in server.log_records())
    server.stop()


def test_partial_error_rate_fails_exactly_that_share(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(fault_error_rate="0.25")
    codes = [
        server.client.post(
            "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
        ).status_code
        for _ in range(40)
    ]
    assert codes == [500, 200, 200, 200] * 10
    server.stop()


@pytest.mark.parametrize(
    ("rate", "requests", "failures"), [(0.05, 400, 20), (0.3, 1000, 300), (0.001, 999, 1)]
)
def test_errors_are_an_exact_evenly_spread_share(rate: float, requests: int, failures: int) -> None:
    injector = FaultInjector(Settings.from_env({"CLASSIFIER_FAULT_ERROR_RATE": str(rate)}))
    outcomes = []
    for _ in range(requests):
        try:
            asyncio.run(injector.apply())
            outcomes.append(False)
        except InjectedFault:
            outcomes.append(True)
    assert outcomes[0], "the first request fails, so the 5xx series exists from the start"
    assert sum(outcomes) == failures
    gaps = {b - a for a, b in itertools.pairwise(i for i, failed in enumerate(outcomes) if failed)}
    assert max(gaps, default=0) - min(gaps, default=0) <= 1


def test_latency_injection_adds_the_configured_delay(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(fault_latency_ms="400")
    started = time.monotonic()
    response = server.client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4
    server.stop()
