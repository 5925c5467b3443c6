"""Deadlines: an expired request is answered 504 and never reaches the model."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from classifier_testkit.server import ServerProcess, StartServer


def test_expired_deadline_is_504_and_never_computed(start_server: StartServer, coffee_jpeg: bytes) -> None:
    # One worker, batch 1: twenty requests ahead take ~200 ms, far past a 20 ms deadline.
    server = start_server(
        inference_workers="1", max_batch_size="1", max_batch_wait_ms="0", queue_capacity="64"
    )

    async def scenario() -> tuple[list[int], httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=30, limits=httpx.Limits(max_connections=30)
        ) as client:
            ahead = [
                asyncio.create_task(
                    client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
                )
                for _ in range(20)
            ]
            await asyncio.sleep(0.05)
            late = await client.post(
                "/v1/classify",
                content=coffee_jpeg,
                headers={"content-type": "image/jpeg", "x-request-timeout-ms": "20"},
            )
            return [r.status_code for r in await asyncio.gather(*ahead)], late

    codes, late = asyncio.run(scenario())
    assert late.status_code == 504
    assert "deadline" in late.json()["error"]
    assert codes == [200] * 20
    assert server.metric("classifier_rejections_total", reason="deadline") == 1
    # Only the twenty answered requests were ever computed.
    assert server.metric("classifier_images_total") == 20
    server.stop()


@pytest.mark.parametrize("value", ["soon", "0", "-5", ""])
def test_bad_timeout_header_is_400(server: ServerProcess, coffee_jpeg: bytes, value: str) -> None:
    response = server.client.post(
        "/v1/classify",
        content=coffee_jpeg,
        headers={"content-type": "image/jpeg", "x-request-timeout-ms": value},
    )
    assert response.status_code == 400
    assert "x-request-timeout-ms" in response.json()["error"]


def test_generous_client_timeout_does_not_extend_the_default(
    server: ServerProcess, coffee_jpeg: bytes
) -> None:
    response = server.client.post(
        "/v1/classify",
        content=coffee_jpeg,
        headers={"content-type": "image/jpeg", "x-request-timeout-ms": "600000"},
    )
    assert response.status_code == 200
