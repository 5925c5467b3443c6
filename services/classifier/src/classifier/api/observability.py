"""Outermost ASGI layer: request id, one JSON log line, and the HTTP metrics, for every request.

It wraps the whole Litestar app (not a route middleware) so 404s and 405s are counted and
logged too. The route label is Litestar's matched path template, or ``<unmatched>``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from classifier.api.asgi import ASGIApp, Message, Receive, Scope, Send
from classifier.metrics import UNMATCHED_ROUTE, ServiceMetrics, outcome

logger = logging.getLogger("classifier.access")

REQUEST_ID_HEADER = b"x-request-id"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A client's request id is echoed into logs and headers: accept only a short, plain token.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")  # whole value: fullmatch


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self._app = app
        self._metrics = metrics
        # Labelled children, looked up once per (route, method, status): `labels()` takes a lock
        # each call, and the outcome is worked out only the first time a status is seen.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _recorders(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        """The request counter's and the duration histogram's children for this answer."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            metrics = self._metrics
            children = (
                metrics.requests.labels(route=route, method=method, code=str(status)),
                metrics.request_duration.labels(route=route, method=method, outcome=outcome(status)),
            )
            self._children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        self._metrics.in_flight.inc()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self._app(scope, receive, send_with_request_id)
        finally:
            self._metrics.in_flight.dec()
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, duration: float) -> None:
        route = scope.get("path_template") or UNMATCHED_ROUTE
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"  # bounded labels
        counter, histogram = self._recorders(route, method, status)
        counter.inc()
        histogram.observe(duration)
        if not logger.isEnabledFor(logging.INFO):
            return
        extra: dict[str, Any] = {
            "event": "request",
            "request_id": request_id,
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(duration * 1000, 2),
        }
        logger.info("request", extra=extra)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex
