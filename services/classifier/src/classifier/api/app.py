"""Application factory: routes, dependencies, error handlers, lifespan and the outer middleware."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from classifier import __version__
from classifier.api import oip
from classifier.api.classify import classify
from classifier.api.errors import EXCEPTION_HANDLERS
from classifier.api.metrics_endpoint import metrics
from classifier.api.observability import ASGIApp, ObservabilityMiddleware
from classifier.runtime import Runtime


def create_app(runtime: Runtime) -> ASGIApp:
    """Build the ASGI app around ``runtime``; the model loads in the background at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        loading = asyncio.create_task(runtime.load())
        try:
            yield
        finally:
            loading.cancel()
            with contextlib.suppress(BaseException):
                await loading
            await runtime.close()

    app = Litestar(
        route_handlers=[classify, metrics, *oip.ROUTES],
        dependencies={"runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=runtime.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="classifier",
            version=__version__,
            description="Image classification (EfficientNet-Lite, ImageNet) with a /v1 API and the "
            "Open Inference Protocol (KServe v2).",
        ),
        logging_config=None,
    )
    return ObservabilityMiddleware(app, runtime.metrics)
