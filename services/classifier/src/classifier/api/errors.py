"""The one place errors become HTTP responses: always JSON ``{"error": "..."}``, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from classifier.api.body import BODY_TOO_LARGE
from classifier.errors import ServiceError

logger = logging.getLogger("classifier")

INTERNAL_ERROR = "internal server error"

# Litestar's own messages for a few statuses are terse; say what the client should do.
_FRIENDLY = {
    404: "no such route; see /schema for the API",
    405: "method not allowed on this route; see /schema for the API",
}


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content={"error": message}, status_code=status, media_type="application/json", headers=headers
    )


def service_error_handler(_: Request[Any, Any, Any], error: ServiceError) -> Response[Any]:
    return _json_error(error.status_code, error.message, error.headers or None)


def http_exception_handler(_: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    message = BODY_TOO_LARGE if status == 413 else _FRIENDLY.get(status, error.detail)
    headers = dict(error.headers or {})
    return _json_error(status, message, headers or None)


def unexpected_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """A bug, not a client mistake: the trace goes to the log, never to the client."""
    logger.exception(
        "unhandled error", extra={"event": "unhandled_error", "path": request.url.path}, exc_info=error
    )
    return _json_error(HTTP_500_INTERNAL_SERVER_ERROR, INTERNAL_ERROR)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ServiceError: service_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}
