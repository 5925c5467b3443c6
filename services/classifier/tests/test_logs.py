"""One structured JSON log line per request, carrying the request id."""

from __future__ import annotations

import asyncio
import time

from classifier.api.asgi import Message, Receive, Scope, Send
from classifier.api.observability import ObservabilityMiddleware
from classifier.metrics import ServiceMetrics
from classifier_testkit.server import ServerProcess


def test_each_request_logs_one_json_line_with_its_id(server: ServerProcess, coffee_jpeg: bytes) -> None:
    server.client.post(
        "/v1/classify",
        content=coffee_jpeg,
        headers={"content-type": "image/jpeg", "x-request-id": "trace-42"},
    )
    server.client.get("/v2/models/unknown", headers={"x-request-id": "trace-43"})
    time.sleep(0.2)
    records = {r["request_id"]: r for r in server.log_records() if r.get("event") == "request"}
    ok, missing = records["trace-42"], records["trace-43"]
    assert (ok["route"], ok["method"], ok["status"]) == ("/v1/classify", "POST", 200)
    assert ok["duration_ms"] > 0
    assert (missing["route"], missing["status"]) == ("/v2/models/{name}", 404)
    assert all(set(r) >= {"ts", "level", "msg"} for r in server.log_records())


def test_a_request_id_with_anything_after_the_token_is_replaced() -> None:
    """A client's id is echoed into logs and headers, so only a whole plain token is kept: a
    trailing newline (which `$` would have let through) is not. uvicorn's parser refuses such a
    header, so the layer is driven directly, as another ASGI server would."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def echoed(offered: bytes) -> bytes:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-request-id", offered)]}
        asyncio.run(ObservabilityMiddleware(answer, ServiceMetrics())(scope, receive, send))
        return dict(sent[0]["headers"])[b"x-request-id"]

    assert echoed(b"trace-42") == b"trace-42"
    for offered in (b"abc\n", b"abc\r\nx-evil: 1", b"", b"x" * 129):
        assert echoed(offered) != offered
        assert len(echoed(offered)) == 32  # a fresh uuid4 hex
