"""The API calls tests share: one classify request, and the check that a server still answers."""

from __future__ import annotations

import httpx

from classifier_testkit.server import ServerProcess


def classify(
    server: ServerProcess, body: bytes, content_type: str = "image/jpeg", **params: str
) -> httpx.Response:
    return server.client.post(
        "/v1/classify", content=body, headers={"content-type": content_type}, params=params
    )


def assert_still_serving(server: ServerProcess, coffee_jpeg: bytes) -> None:
    response = classify(server, coffee_jpeg)
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "espresso"
