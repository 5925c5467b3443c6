"""Per-request deadlines: the configured default, or less if the client asks for less."""

from __future__ import annotations

import time

from classifier.errors import InvalidRequest

# The header (HTTP) a client shortens its deadline with, in milliseconds.
TIMEOUT_HEADER = "x-request-timeout-ms"


def deadline_from_header(raw: str | None, default_timeout_s: float) -> float:
    """The ``time.monotonic()`` instant after which the request is answered 504, for a timeout
    header (in ms) of ``raw``; it can only shorten the default."""
    timeout_s = default_timeout_s
    if raw is not None:
        try:
            asked_ms = float(raw)
        except ValueError:
            raise InvalidRequest(f"{TIMEOUT_HEADER} must be a number of milliseconds, got {raw!r}") from None
        if not asked_ms > 0:  # also refuses NaN
            raise InvalidRequest(f"{TIMEOUT_HEADER} must be greater than 0, got {raw!r}")
        timeout_s = min(timeout_s, asked_ms / 1000.0)
    return time.monotonic() + timeout_s
