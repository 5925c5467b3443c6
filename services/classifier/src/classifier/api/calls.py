"""An HTTP request as the data plane's `Call`: the client's timeout header, and the body it has
not sent yet (Litestar has not read it: the handlers declare no `data`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from litestar import Request

from classifier.api.asgi import Receive
from classifier.api.body import RequestBody
from classifier.dataplane import Call, DataPlane, Parsed
from classifier.deadlines import TIMEOUT_HEADER
from classifier.inference import ImageClassifier
from classifier.prediction_signals import GOLDEN_SET_HEADER


def http_call(
    request: Request[Any, Any, Any],
    dataplane: DataPlane,
    *,
    model_name: str | None,
    parse: Callable[[bytes, ImageClassifier], Parsed],
) -> Call:
    body = RequestBody(
        cast(Receive, request.receive),
        max_bytes=dataplane.max_body_bytes,
        content_length=request.headers.get("content-length"),
    )
    return Call(
        model_name=model_name,
        timeout_ms=request.headers.get(TIMEOUT_HEADER),
        body=body,
        parse=parse,
        golden_set=request.headers.get(GOLDEN_SET_HEADER) == "1",
    )
