"""Response bodies of the /v1 API (msgspec structs: validated, fast to encode)."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec


class PredictionBody(msgspec.Struct):
    label: str
    index: int
    score: float


class ModelBody(msgspec.Struct):
    name: str
    version: str
    backend: str


class TimingsBody(msgspec.Struct):
    decode_ms: float
    preprocess_ms: float
    queue_and_inference_ms: float
    total_ms: float


class ClassifyResponse(msgspec.Struct):
    model: ModelBody
    predictions: list[PredictionBody]
    timings: TimingsBody


class ErrorBody(msgspec.Struct):
    error: str


_ERROR_DESCRIPTIONS = {
    400: "Bad request: invalid parameter, tensor, or an image that cannot be decoded",
    401: "No bearer token (when the server requires one)",
    403: "Wrong bearer token",
    404: "Unknown model",
    408: "The body did not arrive before the request's deadline",
    413: "Body or decoded image larger than the configured limit",
    415: "Unsupported content type",
    429: "At capacity: retry after the Retry-After header's seconds",
    504: "The request's deadline passed before it was computed",
    500: "Internal error (or an injected drill fault)",
    503: "Model not loaded yet",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_ERROR_DESCRIPTIONS[code]) for code in codes
    }
