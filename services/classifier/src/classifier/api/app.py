"""Application factory: routes, dependencies, guards, error handlers, lifespan, outer middleware."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from prometheus_client import start_http_server

from classifier import __version__
from classifier.api import oip
from classifier.api.asgi import ASGIApp
from classifier.api.classify import classify
from classifier.api.demo import demo_page
from classifier.api.early_answers import EarlyAnswers
from classifier.api.errors import EXCEPTION_HANDLERS
from classifier.api.metrics_endpoint import metrics
from classifier.api.observability import ObservabilityMiddleware
from classifier.dataplane import DataPlane
from classifier.runtime import Runtime


def create_app(runtime: Runtime) -> ASGIApp:
    """Build the ASGI app around ``runtime``; the model loads in the background at start-up.

    Outermost first: request id, access log and HTTP metrics for every request; early answers
    held until the request's body is read; then Litestar, the one door to every route.
    """
    settings = runtime.settings
    early_answers = EarlyAnswers(
        create_litestar_app(runtime),
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_s,
    )
    return ObservabilityMiddleware(early_answers, runtime.metrics)


def create_litestar_app(runtime: Runtime) -> Litestar:
    """The routes, dependencies, guards, error handlers and lifespan."""
    settings = runtime.settings

    tokens = runtime.tokens
    dataplane = DataPlane(runtime)

    async def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        # async on purpose: Litestar runs a sync guard in a worker thread, one hop per request.
        if tokens is not None:
            tokens.check(connection.headers.get("authorization"))

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        metrics_server = None
        if settings.metrics_port:
            metrics_server, _thread = start_http_server(
                settings.metrics_port, addr=settings.host, registry=runtime.metrics.registry
            )
        loading = asyncio.create_task(runtime.load())
        try:
            yield
        finally:
            loading.cancel()
            with contextlib.suppress(BaseException):
                await loading
            await runtime.close()
            if metrics_server is not None:
                metrics_server.shutdown()

    # Inference routes need a token when tokens are configured; health and metadata stay open.
    inference = Router(
        path="/", route_handlers=[classify, *oip.MODEL_ROUTES], guards=[require_token] if tokens else []
    )
    operations: list[Any] = [demo_page, *oip.SERVER_ROUTES]
    if not settings.metrics_port:  # otherwise /metrics lives on its own port, for Prometheus only
        operations.append(metrics)
    return Litestar(
        route_handlers=[inference, *operations],
        dependencies={
            "runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
            "dataplane": Provide(lambda: dataplane, use_cache=True, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="classifier",
            version=__version__,
            description="Image classification (EfficientNet-Lite, ImageNet) with a /v1 API and the "
            "Open Inference Protocol (KServe v2).",
        ),
        logging_config=None,
    )
