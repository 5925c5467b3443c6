"""Domain errors. Each carries the HTTP status it maps to; `api.errors` turns them into JSON.

Handlers and the inference path raise these and never build error responses themselves.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error a client can be told about, with the status that describes it."""

    status_code = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidRequest(ServiceError):
    """The request is malformed: bad parameter, bad tensor, missing field."""

    status_code = 400


class InvalidImage(ServiceError):
    """The bytes are not a decodable JPEG, PNG or WebP image."""

    status_code = 400


class PayloadTooLarge(ServiceError):
    """The body, or the image it holds once decoded, exceeds a configured limit."""

    status_code = 413


class RequestTimeout(ServiceError):
    """The body did not arrive before the request's deadline: the client is too slow."""

    status_code = 408


class ClientClosedRequest(ServiceError):
    """The client went away before its answer: nobody reads it. nginx's 499, so the request
    metrics tell a cancelled upload from a server error (it spends no error budget)."""

    status_code = 499


class Unauthorized(ServiceError):
    status_code = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="classifier"'})


class Forbidden(ServiceError):
    status_code = 403


class UnsupportedMediaType(ServiceError):
    status_code = 415


class ModelNotFound(ServiceError):
    status_code = 404


class Overloaded(ServiceError):
    """The admission queue is full: come back later (429 with Retry-After)."""

    status_code = 429


class DeadlineExceeded(ServiceError):
    """The request's deadline passed before it was computed; it was dropped, not run."""

    status_code = 504


class NotReady(ServiceError):
    """The model is not loaded yet, or the server is draining."""

    status_code = 503


class InjectedFault(ServiceError):
    """A failure injected on purpose for a canary drill (see `faults`)."""

    status_code = 500
