"""``POST /v1/classify``: one image as the body (or a multipart ``file`` field), top-k labels out.

A thin adapter over the data plane: it reads the query and headers, gives the data plane a
parser for this protocol's body, and renders the answer.
"""

from __future__ import annotations

from typing import Any

import multipart  # type: ignore[import-untyped]
from litestar import Request, post
from litestar.di import NamedDependency

from classifier.api.calls import http_call
from classifier.api.schemas import ClassifyResponse, ModelBody, PredictionBody, TimingsBody, error_responses
from classifier.dataplane import Answer, DataPlane, Parsed
from classifier.decode import SUPPORTED_MEDIA_TYPES
from classifier.errors import InvalidRequest, UnsupportedMediaType
from classifier.inference import EncodedImages, ImageClassifier

MAX_TOP_K = 20
DEFAULT_TOP_K = 5
FILE_FIELD = "file"
_ACCEPTED = ", ".join([*SUPPORTED_MEDIA_TYPES, "multipart/form-data"])


@post(
    "/v1/classify",
    status_code=200,
    summary="Classify one image",
    description=(
        "Send the image bytes as the body (image/jpeg, image/png, image/webp) or as the "
        "`file` field of a multipart form. `top_k` (1-20, default 5) sets how many labels."
    ),
    responses=error_responses(400, 401, 403, 408, 413, 415, 429, 500, 503, 504),
    tags=["v1"],
)
async def classify(
    request: Request[Any, Any, Any], dataplane: NamedDependency[DataPlane]
) -> ClassifyResponse:
    top_k = parse_top_k(request.query_params.get("top_k"))
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in SUPPORTED_MEDIA_TYPES:

        def parse(body: bytes, _: ImageClassifier) -> Parsed:
            return Parsed(EncodedImages([body]), top_k)

    elif media_type == "multipart/form-data":
        boundary = _boundary(content_type)

        def parse(body: bytes, _: ImageClassifier) -> Parsed:
            return Parsed(EncodedImages([multipart_file(body, boundary)]), top_k)

    else:
        shown = media_type or "none"
        raise UnsupportedMediaType(f"content type {shown!r} is not supported; send one of: {_ACCEPTED}")
    answer = await dataplane.infer(http_call(request, dataplane, model_name=None, parse=parse))
    return render(answer)


def render(answer: Answer) -> ClassifyResponse:
    meta = answer.model.metadata
    timings = answer.timings
    return ClassifyResponse(
        model=ModelBody(name=meta.name, version=meta.version, backend=answer.model.backend.name),
        predictions=[PredictionBody(label=p.label, index=p.index, score=p.score) for p in answer.top_k[0]],
        timings=TimingsBody(
            decode_ms=timings.decode_ms,
            preprocess_ms=timings.preprocess_ms,
            queue_and_inference_ms=timings.queue_and_inference_ms,
            total_ms=timings.total_ms,
        ),
    )


def parse_top_k(raw: str | None) -> int:
    """``top_k`` from a query string: an integer from 1 to MAX_TOP_K."""
    if raw is None:
        return DEFAULT_TOP_K
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {raw!r}") from None
    return checked_top_k(value)


def checked_top_k(value: int) -> int:
    if not 1 <= value <= MAX_TOP_K:
        raise InvalidRequest(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {value}")
    return value


def _boundary(content_type: str) -> str:
    _, options = multipart.parse_options_header(content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise InvalidRequest("a multipart/form-data body needs a boundary in its Content-Type")
    return str(boundary)


def multipart_file(body: bytes, boundary: str) -> bytes:
    """The bytes of the form's ``file`` field. Only that field's bytes are kept; no other part
    is decoded, so its charset or text cannot fail the request."""
    found: bytes | None = None
    current: bytearray | None = None
    try:
        with multipart.PushMultipartParser(boundary, content_length=len(body), strict=True) as parser:
            for event in (*parser.parse(body), *parser.parse(b"")):
                if isinstance(event, multipart.MultipartSegment):
                    current = bytearray() if event.name == FILE_FIELD and found is None else None
                elif event is None:
                    if current is not None:
                        found, current = bytes(current), None
                elif current is not None:
                    current += event
    except (multipart.MultipartError, ValueError, LookupError) as error:
        raise InvalidRequest(f"the multipart body is malformed: {error}") from None
    if found is None:
        raise InvalidRequest(f"the multipart form has no `{FILE_FIELD}` field holding the image")
    return found
