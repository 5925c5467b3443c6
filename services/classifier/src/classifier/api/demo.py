"""``GET /``: a small demo page (no external scripts or fonts: it works offline)."""

from __future__ import annotations

from importlib.resources import files

from litestar import Response, get
from litestar.di import NamedDependency

from classifier.runtime import Runtime

_TEMPLATE = files("classifier.api").joinpath("static/demo.html").read_text()


@get("/", include_in_schema=False)
async def demo_page(runtime: NamedDependency[Runtime]) -> Response[str]:
    page = _TEMPLATE.replace("__MAX_BODY_BYTES__", str(runtime.settings.max_body_bytes))
    return Response(page, media_type="text/html; charset=utf-8")
