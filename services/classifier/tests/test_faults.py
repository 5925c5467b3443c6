"""Drill fault injection: off by default, and when on it does exactly what it says."""

from __future__ import annotations

import time

from .conftest import ServerProcess, StartServer


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


def test_partial_error_rate_fails_about_that_fraction(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(fault_error_rate="0.5")
    codes = [
        server.client.post(
            "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
        ).status_code
        for _ in range(60)
    ]
    assert set(codes) == {200, 500}
    assert 10 <= codes.count(500) <= 50  # binomial(60, 0.5): outside this is ~1e-7
    server.stop()


def test_latency_injection_adds_the_configured_delay(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(fault_latency_ms="400")
    started = time.monotonic()
    response = server.client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4
    server.stop()
