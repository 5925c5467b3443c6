"""``GET /metrics``: the runtime's registry in the Prometheus text format."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from classifier.runtime import Runtime


@get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
async def metrics(runtime: NamedDependency[Runtime]) -> Response[bytes]:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
