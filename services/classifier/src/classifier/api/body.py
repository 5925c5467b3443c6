"""A request's body, read from ASGI messages for the data plane: whole, bounded in size, and a
client that goes away while sending it is told apart from a server error (499)."""

from __future__ import annotations

from classifier.api.asgi import Receive
from classifier.errors import ClientClosedRequest, InvalidRequest, PayloadTooLarge

BODY_TOO_LARGE = "the request body is larger than the limit (CLASSIFIER_MAX_BODY_BYTES)"


class RequestBody:
    def __init__(self, receive: Receive, *, max_bytes: int, content_length: str | None) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._content_length = content_length

    async def read(self) -> bytes:
        """The whole body; 413 as soon as it is known to be over the limit."""
        if self._content_length is not None:
            try:
                announced = int(self._content_length)
            except ValueError:
                raise InvalidRequest(f"invalid Content-Length: {self._content_length!r}") from None
            if announced > self._max_bytes:
                raise PayloadTooLarge(BODY_TOO_LARGE)
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientClosedRequest("the client closed the connection before sending the whole body")
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > self._max_bytes:
                raise PayloadTooLarge(BODY_TOO_LARGE)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def gone(self) -> None:
        """Return once the client has gone away: after the body, the server's next message for
        this request is ``http.disconnect`` (or nothing, while the client stays)."""
        while (await self._receive())["type"] != "http.disconnect":
            pass
