"""Per-request deadlines: the configured default, or less if the client asks for less."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request

from classifier.errors import InvalidRequest

TIMEOUT_HEADER = "x-request-timeout-ms"


def request_deadline(request: Request[Any, Any, Any], default_timeout_s: float) -> float:
    """The ``time.monotonic()`` instant after which the request is dropped with 504."""
    return deadline_from_header(request.headers.get(TIMEOUT_HEADER), default_timeout_s)


def deadline_from_header(raw: str | None, default_timeout_s: float) -> float:
    """The deadline for a request whose timeout header (in ms) is ``raw``; it can only shorten."""
    timeout_s = default_timeout_s
    if raw is not None:
        try:
            asked_ms = float(raw)
        except ValueError:
            raise InvalidRequest(f"{TIMEOUT_HEADER} must be a number of milliseconds, got {raw!r}") from None
        if not asked_ms > 0:
            raise InvalidRequest(f"{TIMEOUT_HEADER} must be greater than 0, got {raw!r}")
        timeout_s = min(timeout_s, asked_ms / 1000.0)
    return time.monotonic() + timeout_s
