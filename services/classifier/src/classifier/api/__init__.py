"""HTTP layer: Litestar routes over the runtime; `create_app` assembles them."""

from classifier.api.app import create_app

__all__ = ["create_app"]
