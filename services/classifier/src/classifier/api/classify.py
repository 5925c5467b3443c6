"""``POST /v1/classify``: one image in the body (or a multipart ``file``), top-k labels out."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency

from classifier.api.deadlines import TIMEOUT_HEADER, deadline_from_header
from classifier.api.schemas import (
    ClassifyResponse,
    ModelBody,
    PredictionBody,
    TimingsBody,
    error_responses,
)
from classifier.decode import SUPPORTED_MEDIA_TYPES
from classifier.errors import InvalidRequest, UnsupportedMediaType
from classifier.runtime import Runtime

MAX_TOP_K = 20
DEFAULT_TOP_K = 5
_ACCEPTED = ", ".join([*SUPPORTED_MEDIA_TYPES, "multipart/form-data"])


@post(
    "/v1/classify",
    status_code=200,
    summary="Classify one image",
    description=(
        "Send the image bytes as the body (image/jpeg, image/png, image/webp) or as the "
        "`file` field of a multipart form. `top_k` (1-20, default 5) sets how many labels."
    ),
    responses=error_responses(400, 401, 403, 413, 415, 429, 500, 503, 504),
    tags=["v1"],
)
async def classify(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]) -> ClassifyResponse:
    # Raw image bodies normally never get here: `raw_classify` serves them (same `classify_one`).
    return await classify_one(
        runtime,
        top_k=request.query_params.get("top_k"),
        timeout_ms=request.headers.get(TIMEOUT_HEADER),
        read_body=lambda: read_image(request),
    )


async def classify_one(
    runtime: Runtime, *, top_k: str | None, timeout_ms: str | None, read_body: Callable[[], Awaitable[bytes]]
) -> ClassifyResponse:
    """The route's work, whichever layer parsed the request: check, admit, read, classify, answer."""
    started = time.perf_counter()
    deadline = deadline_from_header(timeout_ms, runtime.settings.request_timeout_s)
    k = parse_top_k(top_k)
    model = runtime.model()
    model.admission.check()  # refuse before reading the body when at capacity
    image = await read_body()
    await runtime.faults.apply()
    probabilities, timings = await model.classify_images([image], deadline)
    predictions = model.top_k(probabilities[0], k)
    return ClassifyResponse(
        model=ModelBody(name=model.metadata.name, version=model.metadata.version, backend=model.backend.name),
        predictions=[PredictionBody(label=p.label, index=p.index, score=p.score) for p in predictions],
        timings=TimingsBody(
            decode_ms=round(timings.decode_ms, 3),
            preprocess_ms=round(timings.preprocess_ms, 3),
            queue_and_inference_ms=round(timings.queue_and_inference_ms, 3),
            total_ms=round((time.perf_counter() - started) * 1000, 3),
        ),
    )


def parse_top_k(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_TOP_K
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {raw!r}") from None
    if not 1 <= value <= MAX_TOP_K:
        raise InvalidRequest(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {value}")
    return value


async def read_image(request: Request[Any, Any, Any]) -> bytes:
    """The image bytes from a raw body or a multipart ``file`` field."""
    media_type = request.content_type[0].lower()
    if media_type in SUPPORTED_MEDIA_TYPES:
        return await request.body()
    if media_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("the multipart form has no `file` field holding the image")
        data = await upload.read()
        return bytes(data)
    shown = media_type or "none"
    raise UnsupportedMediaType(f"content type {shown!r} is not supported; send one of: {_ACCEPTED}")
