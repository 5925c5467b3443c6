"""The raw-image hot path: which requests it takes, and that it answers exactly as the route does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from classifier.api.observability import Message, Scope
from classifier.api.raw_classify import RawImageClassify
from classifier.config import Settings
from classifier.runtime import Runtime

from .conftest import ServerProcess
from .test_api_classify import assert_still_serving, classify


def _call(scope: Scope) -> tuple[bool, list[Message]]:
    """Run one request through the layer, the model not loaded: (reached Litestar?, messages sent)."""
    reached: list[bool] = []
    sent: list[Message] = []

    async def inner(_scope: Scope, _receive: Any, _send: Any) -> None:
        reached.append(True)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"\xff\xd8", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    layer = RawImageClassify(inner, Runtime(Settings(model_dir=Path("unused"))))
    asyncio.run(layer(scope, receive, send))
    return bool(reached), sent


def _http(method: str, path: str, content_type: bytes | None) -> Scope:
    headers = [] if content_type is None else [(b"content-type", content_type)]
    return {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}


@pytest.mark.parametrize("content_type", [b"image/jpeg", b"image/png", b"image/webp", b"Image/JPEG; q=1"])
def test_raw_image_posts_are_served_by_the_layer(content_type: bytes) -> None:
    reached, sent = _call(_http("POST", "/v1/classify", content_type))
    assert not reached
    assert sent[0]["status"] == 503  # the model is not loaded: the same error the route gives
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"error":"the model is still loading; retry shortly"}'


@pytest.mark.parametrize(
    "scope",
    [
        _http("POST", "/v1/classify", b"multipart/form-data; boundary=x"),
        _http("POST", "/v1/classify", b"text/plain"),
        _http("POST", "/v1/classify", None),
        _http("GET", "/v1/classify", b"image/jpeg"),
        _http("POST", "/v1/classify/", b"image/jpeg"),
        _http("POST", "/v2/models/efficientnet-lite0/infer", b"image/jpeg"),
        {"type": "lifespan"},
    ],
)
def test_everything_else_goes_to_litestar(scope: Scope) -> None:
    reached, sent = _call(scope)
    assert reached
    assert sent == []


def test_answers_match_the_litestar_route(server: ServerProcess, chelsea_jpeg: bytes) -> None:
    raw = classify(server, chelsea_jpeg, top_k="7").json()
    multipart = server.client.post(
        "/v1/classify", files={"file": ("chelsea.jpg", chelsea_jpeg, "image/jpeg")}, params={"top_k": "7"}
    ).json()
    assert raw["model"] == multipart["model"]
    assert raw["predictions"] == multipart["predictions"]
    assert raw["timings"].keys() == multipart["timings"].keys()


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"top_k": "0"}, {}), ({}, {"x-request-timeout-ms": "soon"}), ({}, {"x-request-timeout-ms": "-5"})],
)
def test_errors_match_the_litestar_route(
    server: ServerProcess, chelsea_jpeg: bytes, params: dict[str, str], headers: dict[str, str]
) -> None:
    raw = server.client.post(
        "/v1/classify", content=chelsea_jpeg, params=params, headers={"content-type": "image/jpeg", **headers}
    )
    multipart = server.client.post(
        "/v1/classify", files={"file": ("c.jpg", chelsea_jpeg, "image/jpeg")}, params=params, headers=headers
    )
    assert raw.status_code == multipart.status_code == 400
    assert raw.json() == multipart.json()
    assert raw.headers["content-type"] == multipart.headers["content-type"] == "application/json"


def test_chunked_body_over_the_limit_is_413(server: ServerProcess, coffee_jpeg: bytes) -> None:
    """No Content-Length to refuse up front: the limit holds on the bytes actually received."""

    def chunks() -> Iterator[bytes]:
        for _ in range(9):  # 9 MiB against the default 8 MiB limit
            yield b"\xff" * (1024 * 1024)

    response = server.client.post("/v1/classify", content=chunks(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 413
    assert "CLASSIFIER_MAX_BODY_BYTES" in response.json()["error"]
    assert_still_serving(server, coffee_jpeg)


def test_a_client_that_leaves_mid_body_costs_nothing(server: ServerProcess, coffee_jpeg: bytes) -> None:
    url = urlparse(server.base_url)
    for _ in range(5):
        with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
            conn.sendall(
                b"POST /v1/classify HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\n"
                b"Content-Length: 100000\r\n\r\n" + coffee_jpeg[:1000]
            )
    assert_still_serving(server, coffee_jpeg)
    assert not [r for r in server.log_records() if r.get("event") == "unhandled_error"]
