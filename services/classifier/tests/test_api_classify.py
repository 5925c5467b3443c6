"""POST /v1/classify against a real uvicorn process with the real model."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from PIL import Image

from classifier_testkit import photos
from classifier_testkit.classify import assert_still_serving, classify
from classifier_testkit.server import ServerProcess


def test_coffee_is_espresso_with_model_and_timings(server: ServerProcess, coffee_jpeg: bytes) -> None:
    response = classify(server, coffee_jpeg)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "efficientnet-lite0", "version": "1", "backend": "onnxruntime"}
    top = body["predictions"][0]
    assert (top["label"], top["index"]) == ("espresso", 967)
    assert top["score"] == pytest.approx(0.95, abs=0.02)
    assert len(body["predictions"]) == 5
    scores = [p["score"] for p in body["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert set(body["timings"]) == {"decode_ms", "preprocess_ms", "queue_and_inference_ms", "total_ms"}
    assert body["timings"]["total_ms"] >= body["timings"]["queue_and_inference_ms"] > 0


def test_chelsea_is_a_cat(server: ServerProcess, chelsea_jpeg: bytes) -> None:
    top = classify(server, chelsea_jpeg).json()["predictions"][0]["label"]
    assert top in photos.EXPECTED_TOP1["chelsea"]


@pytest.mark.parametrize(("image_format", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_bodies(server: ServerProcess, image_format: str, content_type: str) -> None:
    body = photos.encode("coffee", image_format)
    response = classify(server, body, content_type)
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "espresso"


def test_multipart_file_field(server: ServerProcess, coffee_jpeg: bytes) -> None:
    response = server.client.post(
        "/v1/classify", files={"file": ("coffee.jpg", coffee_jpeg, "image/jpeg")}, params={"top_k": "2"}
    )
    assert response.status_code == 200
    assert [p["label"] for p in response.json()["predictions"]][:1] == ["espresso"]
    assert len(response.json()["predictions"]) == 2


@pytest.mark.parametrize("top_k", ["1", "20"])
def test_top_k_bounds_are_accepted(server: ServerProcess, coffee_jpeg: bytes, top_k: str) -> None:
    response = classify(server, coffee_jpeg, top_k=top_k)
    assert len(response.json()["predictions"]) == int(top_k)


@pytest.mark.parametrize("top_k", ["0", "21", "-1", "five", "2.5", ""])
def test_bad_top_k_returns_400_and_server_keeps_serving(
    server: ServerProcess, coffee_jpeg: bytes, top_k: str
) -> None:
    response = classify(server, coffee_jpeg, top_k=top_k)
    assert response.status_code == 400
    assert "top_k" in response.json()["error"]
    assert_still_serving(server, coffee_jpeg)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "image/gif", ""])
def test_unsupported_content_type_returns_415(
    server: ServerProcess, coffee_jpeg: bytes, content_type: str
) -> None:
    response = classify(server, coffee_jpeg, content_type)
    assert response.status_code == 415
    assert "not supported" in response.json()["error"]
    assert_still_serving(server, coffee_jpeg)


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("not an image", b"hello, this is not an image" * 10),
        ("empty", b""),
        ("truncated jpeg", photos.encode("coffee")[:5000]),
        ("jpeg header only", photos.encode("coffee")[:600]),
        ("corrupt png", photos.encode("coffee", "PNG")[:100] + b"\x00" * 400),
        ("gif bytes sent as jpeg", _gif()),
    ],
)
def test_undecodable_images_return_400_and_server_keeps_serving(
    server: ServerProcess, coffee_jpeg: bytes, name: str, body: bytes
) -> None:
    response = classify(server, body)
    assert response.status_code == 400, name
    error = response.json()["error"]
    assert error
    assert "Traceback" not in error
    assert_still_serving(server, coffee_jpeg)


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas (a classic decompression bomb)."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def test_decompression_bomb_is_refused_without_decoding(server: ServerProcess, coffee_jpeg: bytes) -> None:
    bomb = _png_bomb(20_000, 20_000)  # 400 Mpx claimed, ~50 KB on the wire
    assert len(bomb) < 100_000
    response = classify(server, bomb, "image/png")
    assert response.status_code == 413
    assert "pixels" in response.json()["error"]
    assert_still_serving(server, coffee_jpeg)


def test_the_default_pixel_limit_is_a_4096_square(server: ServerProcess) -> None:
    """4096 x 4096 decodes (~0.25 s, ~100 MB at most); one more row is refused from the header
    (docs/performance.md: what a limit costs)."""
    assert classify(server, _png_bomb(4096, 4096), "image/png").status_code == 200
    refused = classify(server, _png_bomb(4096, 4097), "image/png")
    assert refused.status_code == 413
    assert "the limit is 16,777,216" in refused.json()["error"]


def test_body_over_limit_returns_413(server: ServerProcess, coffee_jpeg: bytes) -> None:
    response = classify(server, b"\xff" * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert_still_serving(server, coffee_jpeg)


def test_oversized_body_is_rejected_before_it_is_sent_whole(
    server: ServerProcess, coffee_jpeg: bytes
) -> None:
    """Announce 1 GiB, send 64 KiB: the 413 must come back without the server waiting for the rest."""
    url = urlparse(server.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/classify HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 1073741824\r\n\r\n" + b"\xff" * 65536
        )
        started = time.monotonic()
        reply = b""
        while b'"}' not in reply and time.monotonic() - started < 5:
            reply += conn.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")
    assert b'"error"' in reply
    assert_still_serving(server, coffee_jpeg)


def test_request_id_is_echoed_or_generated(server: ServerProcess, coffee_jpeg: bytes) -> None:
    given = server.client.get("/v2/health/live", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = server.client.get("/v2/health/live")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = server.client.get("/v2/health/live", headers={"x-request-id": "a b\tc" * 100})
    assert hostile.headers["x-request-id"] != "a b\tc" * 100


def test_unknown_route_and_method_are_json_errors(server: ServerProcess) -> None:
    missing = server.client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]
    wrong_method = server.client.get("/v1/classify")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]


def test_openapi_document_lists_the_routes(server: ServerProcess) -> None:
    document = server.client.get("/schema/openapi.json").json()
    assert {"/v1/classify", "/v2/models/{name}/infer", "/v2/health/ready"} <= set(document["paths"])


def test_chunked_body_over_the_limit_is_413(server: ServerProcess, coffee_jpeg: bytes) -> None:
    """No Content-Length to refuse up front: the limit holds on the bytes actually received."""

    def chunks() -> Iterator[bytes]:
        for _ in range(9):  # 9 MiB against the default 8 MiB limit
            yield b"\xff" * (1024 * 1024)

    response = server.client.post("/v1/classify", content=chunks(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 413
    assert "CLASSIFIER_MAX_BODY_BYTES" in response.json()["error"]
    assert_still_serving(server, coffee_jpeg)
