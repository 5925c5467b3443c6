"""Overload: a full pipeline answers 429 at once with Retry-After, and recovers as load drops."""

from __future__ import annotations

import asyncio
import time

import httpx

from .conftest import StartServer


def test_full_queue_answers_429_with_retry_after_then_recovers(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    server = start_server(queue_capacity="2", inference_workers="1", max_batch_size="1", fault_latency_ms="0")

    async def burst() -> list[tuple[int, float, httpx.Response]]:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=30, limits=httpx.Limits(max_connections=40)
        ) as client:

            async def one() -> tuple[int, float, httpx.Response]:
                started = time.monotonic()
                response = await client.post(
                    "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
                )
                return response.status_code, time.monotonic() - started, response

            return await asyncio.gather(*(one() for _ in range(40)))

    results = asyncio.run(burst())
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
