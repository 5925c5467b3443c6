"""Overload: a full pipeline makes requests wait in line, then answers 429 with Retry-After,
and recovers as load drops."""

from __future__ import annotations

import asyncio
import time

import httpx

from classifier_testkit.server import ServerProcess, StartServer


def burst(server: ServerProcess, body: bytes, requests: int = 40) -> list[tuple[int, float, httpx.Response]]:
    """``requests`` classify requests at once: (status, seconds, response) each."""

    async def all_at_once() -> list[tuple[int, float, httpx.Response]]:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=30, limits=httpx.Limits(max_connections=requests)
        ) as client:

            async def one() -> tuple[int, float, httpx.Response]:
                started = time.monotonic()
                response = await client.post(
                    "/v1/classify", content=body, headers={"content-type": "image/jpeg"}
                )
                return response.status_code, time.monotonic() - started, response

            return await asyncio.gather(*(one() for _ in range(requests)))

    return asyncio.run(all_at_once())


def test_without_a_wait_a_full_pipeline_answers_429_with_retry_after_then_recovers(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    server = start_server(
        queue_capacity="2", inference_workers="1", max_batch_size="1", admission_wait_ms="0"
    )
    results = burst(server, coffee_jpeg)
    codes = [code for code, _, _ in results]
    assert set(codes) <= {200, 429}
    assert codes.count(429) > 0
    assert codes.count(200) >= 2
    rejected = [response for code, _, response in results if code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in rejected)
    assert all("capacity" in r.json()["error"] for r in rejected)
    assert server.metric("classifier_rejections_total", reason="queue_full") == codes.count(429)

    # Load gone: every request succeeds again.
    for _ in range(5):
        response = server.client.post(
            "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
        )
        assert response.status_code == 200
    assert server.metric("classifier_pending_images") == 0
    server.stop()


def test_requests_wait_in_line_for_a_place_instead_of_being_refused(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    """40 requests at once, 2 places: the rest wait (no CPU spent on refusals) and all succeed."""
    server = start_server(
        queue_capacity="2", inference_workers="1", max_batch_size="1", admission_wait_ms="4000"
    )
    results = burst(server, coffee_jpeg)
    assert [code for code, _, _ in results] == [200] * 40
    assert server.metric("classifier_rejections_total", reason="queue_full") == 0
    server.stop()


def test_a_wait_that_runs_out_is_429_not_a_late_answer(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(
        queue_capacity="1", inference_workers="1", max_batch_size="1", admission_wait_ms="50"
    )
    results = burst(server, coffee_jpeg)
    refused = [seconds for code, seconds, _ in results if code == 429]
    assert refused, "40 requests for one place and 50 ms of patience: some are refused"
    assert max(refused) < 1.0, "a refusal comes after the wait, not after the work ahead"
    server.stop()
