"""Admission control: a bound on images in the pipeline (decoding, queued or computing).

Beyond the bound a request is answered 429 at once, before its body is even read, so an
overloaded server spends almost nothing on work it will refuse and latency and memory stay
bounded (see the overload row in docs/performance.md).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from classifier.errors import Overloaded
from classifier.metrics import ServiceMetrics

# Rough seconds of work per admitted image per worker, for the Retry-After hint only.
_SECONDS_PER_IMAGE = 0.01


class Admission:
    def __init__(self, capacity: int, workers: int, metrics: ServiceMetrics) -> None:
        self.capacity = capacity
        self._workers = workers
        self._metrics = metrics
        self._pending = 0
        metrics.queue_capacity.set(capacity)

    @property
    def pending(self) -> int:
        return self._pending

    def check(self, images: int = 1) -> None:
        """Raise Overloaded if ``images`` more would exceed the bound (holds nothing)."""
        if self._pending + images > self.capacity:
            self._metrics.rejections.labels(reason="queue_full").inc()
            raise Overloaded(
                f"the server is at capacity ({self.capacity} images in flight); retry after a moment",
                headers={"Retry-After": str(self._retry_after_s())},
            )

    @contextlib.contextmanager
    def hold(self, images: int) -> Iterator[None]:
        """Admit ``images`` for the duration of the block, or raise Overloaded."""
        self.check(images)
        self._pending += images
        self._metrics.pending.set(self._pending)
        try:
            yield
        finally:
            self._pending -= images
            self._metrics.pending.set(self._pending)

    def _retry_after_s(self) -> int:
        return max(1, math.ceil(self._pending * _SECONDS_PER_IMAGE / self._workers))
