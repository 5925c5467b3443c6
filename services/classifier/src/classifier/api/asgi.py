"""Plain ASGI types, for the layers that sit outside Litestar and see raw scopes and messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Any ASGI app: Litestar's own signature names its event types, hence the ellipsis.
ASGIApp = Callable[..., Awaitable[None]]
