"""``POST /v1/classify`` with a raw image body, served straight from ASGI: the service's hot path.

On a CPU the event loop shares the cores with inference, so every millisecond it spends per
request is taken from the model. Litestar's per-request machinery (connection objects,
routing, dependency and signature resolution, response objects) cost about 0.25 ms of
event-loop CPU per request here (1.18 -> 0.93 ms, `benchmarks/compare_revisions.py`), about 1%
of the machine at ~85 images/s on 2 cores. This layer
serves exactly the common request shape (a supported image type as the body) with the same
work (`classify_one`), the same checks in the same order, the same errors and the same JSON;
anything else (multipart uploads, unsupported types, other routes) goes on to Litestar, which
also still documents the route in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec

from classifier.api.classify import classify_one
from classifier.api.deadlines import TIMEOUT_HEADER
from classifier.api.errors import BODY_TOO_LARGE, INTERNAL_ERROR, log_unexpected_error
from classifier.api.observability import ASGIApp, Receive, Scope, Send
from classifier.api.schemas import ErrorBody
from classifier.decode import SUPPORTED_MEDIA_TYPES
from classifier.errors import InvalidRequest, PayloadTooLarge, ServiceError
from classifier.runtime import Runtime

ROUTE = "/v1/classify"
_IMAGE_TYPES = frozenset(t.encode() for t in SUPPORTED_MEDIA_TYPES)
_TIMEOUT_HEADER = TIMEOUT_HEADER.encode()
_encode = msgspec.json.Encoder().encode


class _ClientGone(Exception):
    """The client disconnected before sending the whole body: nobody is left to answer."""


class RawImageClassify:
    """ASGI layer in front of the Litestar app; takes only raw-image ``POST /v1/classify``."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self._app = app
        self._runtime = runtime
        self._max_body_bytes = runtime.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == ROUTE and scope["method"] == "POST":
            headers = _headers(scope["headers"])
            media_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if media_type in _IMAGE_TYPES:
                scope["path_template"] = ROUTE  # the metrics' route label, as Litestar sets it
                await self._serve(scope, headers, receive, send)
                return
        await self._app(scope, receive, send)

    async def _serve(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, send: Send) -> None:
        try:
            if self._runtime.tokens is not None:
                self._runtime.tokens.check(_text(headers.get(b"authorization")))
            answer = await classify_one(
                self._runtime,
                top_k=_query_value(scope["query_string"], "top_k"),
                timeout_ms=_text(headers.get(_TIMEOUT_HEADER)),
                read_body=lambda: self._read_body(headers.get(b"content-length"), receive),
            )
        except _ClientGone:
            return
        except ServiceError as error:
            await _send_json(send, error.status_code, ErrorBody(error.message), error.headers)
            return
        except Exception as error:
            log_unexpected_error(scope["path"], error)
            await _send_json(send, 500, ErrorBody(INTERNAL_ERROR))
            return
        await _send_json(send, 200, answer)

    async def _read_body(self, announced: bytes | None, receive: Receive) -> bytes:
        """The whole body, refused with 413 as soon as it is known to be over the limit."""
        if announced is not None:
            try:
                length = int(announced)
            except ValueError:
                shown = announced.decode(errors="replace")
                raise InvalidRequest(f"invalid Content-Length: {shown!r}") from None
            if length > self._max_body_bytes:
                raise PayloadTooLarge(BODY_TOO_LARGE)
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self._max_body_bytes:
                raise PayloadTooLarge(BODY_TOO_LARGE)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Header names (lower case in ASGI) to values; the first of a repeated header wins."""
    headers: dict[bytes, bytes] = {}
    for name, value in raw:
        headers.setdefault(name, value)
    return headers


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _query_value(query_string: bytes, name: str) -> str | None:
    if not query_string:
        return None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == name:
            return value
    return None


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    content = _encode(body)
    extra = headers or {}
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": content})
