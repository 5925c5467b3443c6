"""Early answers reach the client: a response sent before the request's body was read (a 429,
401, 413, 404, ...) waits until the rest of the body has been read and thrown away.

A server that closes a connection while unread request data sits in its socket makes the
kernel send a reset, and the client may lose the answer it was sent (RFC 9112 section 9.6,
"Tear-down"; nginx therefore reads and ignores the rest before closing: `lingering_close`,
nginx.org/en/docs/http/ngx_http_core_module.html#lingering_close). uvicorn 0.54.0 keeps a
connection open after an early answer and discards the rest of the body itself (`on_body`
returns once the response is complete, protocols/http/httptools_impl.py), but it closes the
transport as soon as the answer is sent when the connection is not keep-alive (the client sent
``Connection: close``, or HTTP/1.0), or when the server shuts down. Reading the body before the
answer is sent makes the answer safe in every case. The drain is bounded: a body larger than
CLASSIFIER_MAX_BODY_BYTES, or one that does not arrive within the request timeout (or already
did not: a 408), is not waited for; the answer then says ``Connection: close``, so no further
request is read from that stream.
"""

from __future__ import annotations

import asyncio
import contextlib

from classifier.api.asgi import ASGIApp, Message, Receive, Scope, Send


class EarlyAnswers:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, timeout_s: float) -> None:
        self._app = app
        self._max_body_bytes = max_body_bytes
        self._timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        announced, chunked, awaits_go_ahead = _body_headers(scope)
        # No length: a chunked body, or no body at all.
        unread = announced > 0 if announced is not None else chunked

        async def tracked_receive() -> Message:
            nonlocal unread, awaits_go_ahead
            awaits_go_ahead = False
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                unread = False
            return message

        async def send_after_drain(message: Message) -> None:
            nonlocal unread
            if message["type"] == "http.response.start" and unread and not awaits_go_ahead:
                unread = False
                # A 408 says the body is not arriving in time: waiting for it again is pointless.
                if message["status"] == 408 or not await self._drain(receive, announced):
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self._app(scope, tracked_receive, send_after_drain)

    async def _drain(self, receive: Receive, announced: int | None) -> bool:
        """Read and discard the rest of the body; False if it was too large or too slow."""
        if announced is not None and announced > self._max_body_bytes:
            return False
        discarded = 0
        try:
            async with asyncio.timeout(self._timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return True
                    discarded += len(message.get("body", b""))
                    if discarded > self._max_body_bytes:
                        return False
                    if not message.get("more_body", False):
                        return True
        except TimeoutError:
            return False


def _body_headers(scope: Scope) -> tuple[int | None, bool, bool]:
    """(Content-Length, chunked, Expect: 100-continue), in one pass over the headers.

    A client that sent `Expect: 100-continue` waits for a go-ahead before sending its body, and
    uvicorn sends "100 Continue" at the first read (RFC 9110 section 10.1.1): while nothing was
    read, the answer goes out as it is, nothing is drained, and the body is never sent."""
    announced: int | None = None
    chunked = expects_continue = False
    for name, value in scope["headers"]:
        if name == b"content-length" and announced is None:  # the first, as the body reader takes it
            with contextlib.suppress(ValueError):
                announced = int(value)
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
    return announced, chunked, expects_continue
