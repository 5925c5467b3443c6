"""The request path against odd and unlucky clients: extreme images, hostile JSON and multipart
bodies, vanishing and trickling uploads, short deadlines, early answers.

Every test talks to a real `python -m classifier` over HTTP (raw sockets where a client library
would not send the request); images are built here with Pillow and numpy.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from classifier_testkit.server import ServerProcess, StartServer

REQUESTS = "classifier_http_requests_total"
JPEG = {"content-type": "image/jpeg"}
PNG = {"content-type": "image/png"}
TIMEOUT_HEADER = "x-request-timeout-ms"


# ------------------------------------------------------------------ images


def _encode(pixels: npt.NDArray[np.uint8], image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format, **options)
    return buffer.getvalue()


def _pattern(width: int, height: int) -> npt.NDArray[np.uint8]:
    """height x width x 3 bytes that compress well (an 8 MB PNG body limit) but are not flat."""
    x = np.arange(width, dtype=np.uint32)[None, :]
    y = np.arange(height, dtype=np.uint32)[:, None]
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    pixels[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    pixels[..., 2] = ((x + y) % 256).astype(np.uint8)
    return pixels


@functools.cache
def _photo_jpeg() -> bytes:
    """A small valid JPEG: a smooth pattern with some noise, like a thumbnail."""
    noise = np.random.default_rng(7).integers(0, 32, (96, 128, 3), dtype=np.uint8)
    return _encode(_pattern(128, 96) // 2 + noise, "JPEG", quality=90)


@functools.cache
def _heavy_png() -> bytes:
    """A 16-megapixel PNG (~0.2 MB) that keeps one worker busy decoding for a few hundred ms."""
    return _encode(_pattern(4000, 4000), "PNG", compress_level=1)


@functools.cache
def _tall_png(width: int, height: int) -> bytes:
    return _encode(_pattern(width, height), "PNG")


# ------------------------------------------------------------------ answers


def _assert_json_error(status: int, body: bytes, allowed: range | set[int]) -> str:
    """The answer is one of `allowed` with a JSON body {"error": "<non-empty text>"}; the text."""
    assert status in allowed, f"status {status} not in {allowed}: {body[:300]!r}"
    document = json.loads(body)
    assert isinstance(document, dict), document
    message = document.get("error")
    assert isinstance(message, str), document
    assert message, document
    return message


def _assert_response_error(response: httpx.Response, allowed: range | set[int]) -> str:
    return _assert_json_error(response.status_code, response.content, allowed)


def _model_name(server: ServerProcess) -> str:
    """The served model's name, as the public /v1 API reports it."""
    response = server.client.post("/v1/classify", content=_photo_jpeg(), headers=JPEG)
    assert response.status_code == 200, response.text
    name: str = response.json()["model"]["name"]
    return name


def _classifies(server: ServerProcess) -> None:
    response = server.client.post("/v1/classify", content=_photo_jpeg(), headers=JPEG)
    assert response.status_code == 200, response.text


def _wait_for_metric(
    server: ServerProcess, name: str, at_least: float, timeout: float = 10, **labels: str
) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value: float = server.metric(name, **labels)
        if value >= at_least or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# ------------------------------------------------------------------ raw HTTP/1.1


@dataclass
class _RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def _head(method: str, path: str, headers: dict[str, str], content_length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _RawConnection:
    """One TCP connection to the server, for requests no HTTP client library would send."""

    def __init__(self, base_url: str, timeout: float = 10) -> None:
        address = urlsplit(base_url)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=timeout)
        self._buffer = b""

    def __enter__(self) -> _RawConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def read_response(self) -> _RawResponse:
        """One whole response (Content-Length framed); ConnectionError if it is cut short."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response head: {self._buffer!r}")
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            if not self._fill():
                raise ConnectionError(f"connection closed after {len(self._buffer)} of {length} body bytes")
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return _RawResponse(status, headers, body)


class _TricklingUpload(threading.Thread):
    """Sends a request head at once, then a few body bytes every `interval`, never the whole
    body; stops when the server answers (recording the answer and when) or after `give_up_s`."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        content_length: int = 1_000_000,
        interval: float = 0.1,
        chunk: int = 100,
        give_up_s: float = 4.0,
    ) -> None:
        super().__init__(daemon=True)
        self._base_url = base_url
        self._head = _head("POST", "/v1/classify", headers, content_length)
        self._interval = interval
        self._chunk = chunk
        self._give_up_s = give_up_s
        self.response: _RawResponse | None = None
        self.error: BaseException | None = None
        self.answered_after_s: float | None = None
        self.started_sending = threading.Event()

    def run(self) -> None:
        with _RawConnection(self._base_url) as connection:
            started = time.monotonic()
            try:
                connection.send(self._head + b"\0" * self._chunk)
                self.started_sending.set()
                while time.monotonic() - started < self._give_up_s:
                    readable, _, _ = select.select([connection.sock], [], [], self._interval)
                    if readable:
                        break
                    try:
                        connection.send(b"\0" * self._chunk)
                    except OSError:
                        break  # the server stopped reading: its answer, if any, is waiting
                else:
                    return  # never answered
                self.response = connection.read_response()
                self.answered_after_s = time.monotonic() - started
            except (OSError, ValueError) as error:
                self.error = error
            finally:
                self.started_sending.set()


# ------------------------------------------------------------------ 1. extreme aspect ratios

# Under the default limit, and past 2^24 on the long side, where float32 once emptied the crop
# box (the old 40,000,000-pixel default let them in: `wide_server` has that limit).
TALL_AND_WIDE = [(1, 3_000_000), (3_000_000, 1), (1, 18_259_986), (30_122_000, 1)]
IDS = [f"{width}x{height}" for width, height in TALL_AND_WIDE]


@pytest.fixture(scope="module")
def wide_server(start_server: StartServer) -> ServerProcess:
    """The old pixel limit; batches of up to 4, held 200 ms, so concurrent requests share a call."""
    return start_server(
        max_image_pixels="40000000", max_batch_size="4", max_batch_wait_ms="200", inference_workers="1"
    )


@pytest.mark.parametrize(("width", "height"), TALL_AND_WIDE, ids=IDS)
def test_extremely_tall_or_wide_png_is_answered_never_500(
    wide_server: ServerProcess, width: int, height: int
) -> None:
    response = wide_server.client.post("/v1/classify", content=_tall_png(width, height), headers=PNG)
    if response.status_code != 200:
        _assert_response_error(response, range(400, 500))
    _classifies(wide_server)


@pytest.mark.parametrize(("width", "height"), TALL_AND_WIDE, ids=IDS)
def test_extremely_tall_or_wide_png_does_not_fail_its_batch_mates(
    wide_server: ServerProcess, width: int, height: int
) -> None:
    odd = _tall_png(width, height)
    with ThreadPoolExecutor(4) as pool:
        odd_answer = pool.submit(wide_server.client.post, "/v1/classify", content=odd, headers=PNG)
        mates = [
            pool.submit(wide_server.client.post, "/v1/classify", content=_photo_jpeg(), headers=JPEG)
            for _ in range(3)
        ]
        answers = [mate.result() for mate in mates]
        odd_response = odd_answer.result()
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text[:200] for a in answers]
    if odd_response.status_code != 200:
        _assert_response_error(odd_response, range(400, 500))


# ------------------------------------------------------------------ 2. deeply nested JSON


def test_deeply_nested_oip_json_is_400_not_500(server: ServerProcess) -> None:
    depth = 100_000
    body = (
        '{"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": '
        + "[" * depth
        + "]" * depth
        + "}]}"
    )
    response = server.client.post(
        f"/v2/models/{_model_name(server)}/infer",
        content=body.encode(),
        headers={"content-type": "application/json"},
    )
    _assert_response_error(response, {400})
    _classifies(server)


# ------------------------------------------------------------------ 3. multipart text parts

_BOUNDARY = "request-path-boundary"


def _multipart(parts: list[tuple[str, bytes]]) -> bytes:
    """A multipart/form-data body from (part headers, part content) pairs."""
    body = b""
    for headers, content in parts:
        body += f"--{_BOUNDARY}\r\n{headers}\r\n\r\n".encode("latin-1") + content + b"\r\n"
    return body + f"--{_BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    ("text_headers", "text"),
    [
        ('Content-Disposition: form-data; name="note"', b"caf\xe9 \xff\xfe\xc3\x28"),
        (
            'Content-Disposition: form-data; name="note"\r\nContent-Type: text/plain; charset=nonsense-42',
            b"hi",
        ),
    ],
    ids=["invalid-utf8", "unknown-charset"],
)
def test_multipart_text_part_with_bad_encoding_is_not_500(
    server: ServerProcess, text_headers: str, text: bytes
) -> None:
    body = _multipart(
        [
            (text_headers, text),
            (
                'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg',
                _photo_jpeg(),
            ),
        ]
    )
    response = server.client.post(
        "/v1/classify", content=body, headers={"content-type": f"multipart/form-data; boundary={_BOUNDARY}"}
    )
    assert response.status_code < 500, response.text
    document = response.json()  # JSON either way: predictions if the text part is ignored
    if response.status_code != 200:
        _assert_response_error(response, range(400, 500))
    else:
        assert document["predictions"], document
    _classifies(server)


# ------------------------------------------------------------------ 4. client gone mid-upload


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", f"multipart/form-data; boundary={_BOUNDARY}"], ids=["raw", "multipart"]
)
def test_client_gone_mid_upload_is_counted_as_499_not_500(server: ServerProcess, content_type: str) -> None:
    labels = {"route": "/v1/classify", "method": "POST"}
    before = {code: server.metric(REQUESTS, code=code, **labels) for code in ("499", "500")}
    with _RawConnection(server.base_url) as connection:
        connection.send(_head("POST", "/v1/classify", {"Content-Type": content_type}, 2_000_000))
        connection.send(b"\0" * 1_000_000)
    # Counted once the server notices the closed connection: as a 499, or (the bug) a 500.
    deadline = time.monotonic() + 10
    while True:
        after = {code: server.metric(REQUESTS, code=code, **labels) for code in ("499", "500")}
        if after != before or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert after["500"] == before["500"], "an abandoned upload was counted as a server error (500)"
    assert after["499"] == before["499"] + 1
    _classifies(server)


def test_client_gone_while_its_image_is_computed_is_499_not_its_late_answer(
    start_server: StartServer,
) -> None:
    """The body arrived, then the client left during the (drill) latency: the request is recorded
    as 499 at once, not as the 200 nobody reads, and its work is dropped."""
    server = start_server(fault_latency_ms="2000")
    labels = {"route": "/v1/classify", "method": "POST"}
    body = _photo_jpeg()
    with _RawConnection(server.base_url) as connection:
        connection.send(_head("POST", "/v1/classify", {"Content-Type": "image/jpeg"}, len(body)) + body)
        time.sleep(0.3)
    assert _wait_for_metric(server, REQUESTS, 1, timeout=1.5, code="499", **labels) == 1
    assert server.metric(REQUESTS, code="200", **labels) == 0
    assert server.metric("classifier_images_total") == 0, "the work of a client that left was dropped"
    server.stop()


# ------------------------------------------------------------------ 5. deadlines while queued


def test_queued_request_is_answered_by_its_deadline_not_when_a_worker_frees(
    start_server: StartServer,
) -> None:
    """Four heavy images keep the only worker busy for about a second; light requests with a
    150 ms deadline queued behind them must be answered (200 or 504) by then, plus a margin."""
    server = start_server(max_batch_size="1", inference_workers="1")
    timeout_ms, margin_s = 150, 0.15
    heavy = _heavy_png()
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with httpx.Client(base_url=server.base_url, timeout=30, limits=limits) as client:

        def light() -> tuple[int, float, bytes]:
            started = time.monotonic()
            response = client.post(
                "/v1/classify", content=_photo_jpeg(), headers={**JPEG, TIMEOUT_HEADER: str(timeout_ms)}
            )
            return response.status_code, time.monotonic() - started, response.content

        with ThreadPoolExecutor(12) as pool:
            heavies = [pool.submit(client.post, "/v1/classify", content=heavy, headers=PNG) for _ in range(4)]
            _wait_for_metric(server, "classifier_pending_images", 4)
            lights = [pool.submit(light) for _ in range(8)]
            results = [future.result() for future in lights]
            heavy_codes = [future.result().status_code for future in heavies]

    assert heavy_codes == [200] * 4
    for status, _, body in results:
        if status != 200:
            _assert_json_error(status, body, {504})
    slowest = max(elapsed for _, elapsed, _ in results)
    assert slowest <= timeout_ms / 1000 + margin_s, (
        f"a request with a {timeout_ms} ms deadline was answered after {slowest * 1000:.0f} ms: "
        f"{sorted(round(e * 1000) for _, e, _ in results)} ms"
    )


# ------------------------------------------------------------------ 6. admission before the body


def test_slow_uploads_hold_admission_and_are_answered_408_at_their_deadline(
    start_server: StartServer,
) -> None:
    # No waiting line: the third request is refused the moment it finds both places taken.
    server = start_server(queue_capacity="2", request_timeout_s="1", admission_wait_ms="0")
    uploads = [_TricklingUpload(server.base_url, {"Content-Type": "image/jpeg"}) for _ in range(2)]
    for upload in uploads:
        upload.start()
    for upload in uploads:
        upload.started_sending.wait(5)
    time.sleep(0.3)  # both heads are in: the server is reading two bodies that never end
    third = server.client.post("/v1/classify", content=_photo_jpeg(), headers=JPEG)
    for upload in uploads:
        upload.join(10)

    assert third.status_code == 429, f"capacity 2 is taken by two uploads, yet: {third.status_code}"
    _assert_response_error(third, {429})
    for upload in uploads:
        assert upload.response is not None, f"a slow upload was never answered (error: {upload.error!r})"
        _assert_json_error(upload.response.status, upload.response.body, {408})
        assert upload.answered_after_s is not None
        assert upload.answered_after_s < 1 + 1.0, f"answered after {upload.answered_after_s:.2f} s"
    _classifies(server)


# ------------------------------------------------------------------ 7. early answers


@pytest.fixture(scope="module")
def one_slot_server(start_server: StartServer) -> Any:
    return start_server(queue_capacity="1", admission_wait_ms="0")  # refused at once: an early answer


class _HeavyRequest(threading.Thread):
    """Posts the heavy image; `finished_at` is the monotonic time its answer came in."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self._base_url = base_url
        self.status: int | None = None
        self.finished_at = float("inf")

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self._base_url, timeout=30) as client:
                self.status = client.post("/v1/classify", content=_heavy_png(), headers=PNG).status_code
        finally:
            self.finished_at = time.monotonic()


@contextlib.contextmanager
def _slot_taken_by_heavy_image(server: ServerProcess) -> Iterator[_HeavyRequest]:
    """The only admission slot is held while a worker decodes a 16-megapixel image."""
    heavy = _HeavyRequest(server.base_url)
    heavy.start()
    try:
        assert _wait_for_metric(server, "classifier_pending_images", 1) >= 1
        yield heavy
    finally:
        heavy.join(30)


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
def test_early_429_reaches_a_client_that_sent_its_whole_body_without_reading(
    one_slot_server: ServerProcess, connection: str
) -> None:
    """The body is sent whole before the client reads: the 429 must arrive complete (the server
    reads and drops the rest, no reset) and a kept-alive connection must stay usable."""
    server = one_slot_server
    body = b"\0" * 4_000_000
    request = _head(
        "POST", "/v1/classify", {"Content-Type": "image/jpeg", "Connection": connection}, len(body)
    )
    for _attempt in range(3):
        with _slot_taken_by_heavy_image(server) as heavy, _RawConnection(server.base_url) as raw:
            sent_at = time.monotonic()
            try:
                raw.send(request + body)
                answer = raw.read_response()
            except OSError as error:  # reset or cut short: the answer never reached the client
                pytest.fail(f"the early answer was lost: {error!r}")
            answered_ms = (time.monotonic() - sent_at) * 1000
            if answer.status != 429 and heavy.finished_at < sent_at + 0.02:
                continue  # the slot freed as this request arrived: set up again
            assert answer.status == 429, (
                f"the slot was taken when the request arrived (freed "
                f"{(heavy.finished_at - sent_at) * 1000:.0f} ms later), yet it was answered "
                f"{answer.status} after {answered_ms:.0f} ms: {answer.body[:200]!r}"
            )
            _assert_json_error(answer.status, answer.body, {429})
            if connection == "keep-alive":
                raw.send(_head("GET", "/v2/health/live", {}))
                follow_up = raw.read_response()
                assert follow_up.status == 200, follow_up
            return
    pytest.fail("the heavy image never held the slot long enough to test an early answer")


def test_an_early_answer_to_expect_100_continue_is_sent_without_asking_for_the_body(
    one_slot_server: ServerProcess,
) -> None:
    """A client that asks before sending its body gets the 429 instead of a "100 Continue" that
    would make it upload 4 MB only to have them thrown away."""
    request = _head(
        "POST", "/v1/classify", {"Content-Type": "image/jpeg", "Expect": "100-continue"}, 4_000_000
    )
    for _attempt in range(3):
        with (
            _slot_taken_by_heavy_image(one_slot_server) as heavy,
            _RawConnection(one_slot_server.base_url) as raw,
        ):
            sent_at = time.monotonic()
            raw.send(request)
            answer = raw.read_response()
            if answer.status != 429 and heavy.finished_at < sent_at + 0.02:
                continue  # the slot freed as this request arrived: set up again
            assert answer.status == 429, f"{answer.status}: {answer.body[:200]!r}"
            return
    pytest.fail("the heavy image never held the slot long enough to test an early answer")


# ------------------------------------------------------------------ 8. small ones
# An X-Request-Id with a newline cannot reach the application: uvicorn's HTTP parser answers
# "400 Invalid HTTP request received." before the app sees the request, so there is no test.


def _infer(server: ServerProcess, document: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = server.client.post(f"/v2/models/{_model_name(server)}/infer", json=document)
    return response


def test_oip_fp32_data_as_strings_is_400(server: ServerProcess) -> None:
    tensor = {
        "name": "input",
        "shape": [1, 3, 224, 224],
        "datatype": "FP32",
        "data": ["1.5"] * (3 * 224 * 224),
    }
    response = _infer(server, {"inputs": [tensor]})
    _assert_response_error(response, {400})


def test_oip_top_k_given_as_a_whole_float_is_accepted(server: ServerProcess) -> None:
    image = base64.b64encode(_photo_jpeg()).decode()
    document = {
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [image]}],
        "outputs": [{"name": "labels"}],
        "parameters": {"top_k": 5.0},
    }
    response = _infer(server, document)
    assert response.status_code == 200, response.text
    (labels,) = response.json()["outputs"]
    assert labels["shape"] == [1, 5]
    assert len(labels["data"]) == 5


def test_oip_request_with_more_images_than_capacity_is_413_naming_the_limit(
    start_server: StartServer,
) -> None:
    server = start_server(queue_capacity="4")
    image = base64.b64encode(_photo_jpeg()).decode()
    document = {"inputs": [{"name": "image", "shape": [6], "datatype": "BYTES", "data": [image] * 6}]}
    response = _infer(server, document)
    message = _assert_response_error(response, {413, 400})
    assert re.search(r"\b4\b", message), f"the message does not say the limit (4): {message!r}"
