"""SIGTERM on a real process: readiness drops at once, in-flight work finishes, exit code 0."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from classifier_testkit.server import StartServer


def test_sigterm_drains_in_flight_request_and_exits_cleanly(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    # The drill latency keeps one request in flight for 1.5 s; the drain delay keeps the
    # listener open so readiness can be observed answering 503.
    server = start_server(fault_latency_ms="1500", drain_delay_s="1.0", shutdown_timeout_s="10")
    results: dict[str, httpx.Response] = {}

    def slow_request() -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            results["slow"] = client.post(
                "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
            )

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.5)  # the request is now sleeping inside the handler
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    readiness = server.client.get("/v2/health/ready")
    liveness = server.client.get("/v2/health/live")
    worker.join(timeout=20)

    assert readiness.status_code == 503
    assert readiness.json() == {"ready": False, "reason": "draining"}
    assert liveness.status_code == 200
    assert results["slow"].status_code == 200
    assert results["slow"].json()["predictions"][0]["label"] == "espresso"
    assert server.process.wait(timeout=15) == 0
    assert any(record.get("event") == "draining" for record in server.log_records())


def test_sigterm_on_idle_server_exits_promptly(start_server: StartServer) -> None:
    server = start_server()
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


def test_sigterm_drains_queued_requests_too(start_server: StartServer, coffee_jpeg: bytes) -> None:
    """Twelve requests queued behind one worker at batch 1: every one is answered, then exit 0."""
    server = start_server(
        inference_workers="1", max_batch_size="1", max_batch_wait_ms="0", shutdown_timeout_s="20"
    )
    results: list[int] = []

    def request() -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            results.append(
                client.post(
                    "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
                ).status_code
            )

    workers = [threading.Thread(target=request) for _ in range(12)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 10
    while server.metric("classifier_http_requests_in_flight") < 13 and time.monotonic() < deadline:
        time.sleep(0.005)  # 12 requests + this /metrics scrape
    server.process.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.join(timeout=30)
    assert results == [200] * 12
    assert server.process.wait(timeout=20) == 0
