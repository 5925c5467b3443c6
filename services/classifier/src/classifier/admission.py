"""Admission control: a bound on the images a server holds at once, reserved before a body is read.

A request takes a ticket before its body is read, so the bound covers bodies being received,
images being decoded, queued and computed: memory is bounded by ``capacity`` bodies of at most
CLASSIFIER_MAX_BODY_BYTES (plus what uvicorn buffers for a connection that is not being read:
it stops reading a socket once 64 KiB of body wait, `HIGH_WATER_LIMIT` in uvicorn 0.54.0's
protocols/http/flow_control.py) and latency by the work ahead of a request.

When the pipeline is full a request waits in line, in arrival order and holding no body, for
at most ``max_wait_s``; then it is answered 429 with Retry-After. Waiting costs no CPU;
refusing at once would, with clients that retry at once, turn the freed CPU into a stream of
refusals (docs/decisions.md, "Backpressure").

Runs on the event loop only, so its counters need no lock (the inference workers only read
`pending`, for a heuristic).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from classifier.errors import Overloaded, PayloadTooLarge
from classifier.metrics import ServiceMetrics

# Rough seconds of work per admitted image per worker, for the Retry-After hint only.
_SECONDS_PER_IMAGE = 0.01


@dataclass(eq=False, slots=True)
class _Waiter:
    images: int
    granted: asyncio.Future[None]


class Ticket:
    """Places held by one request; given back when its `Admission.ticket` block ends."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self.images = 0
        self.waited = False  # it found no place at once and waited in line

    def grow(self, images: int) -> None:
        """Hold ``images`` places (a body can hold several images): the extra ones only if they
        are free now. The request already holds its body, so it does not wait in line holding it:
        413 beyond the capacity, 429 when they are not free."""
        if images > self._admission.capacity:
            raise PayloadTooLarge(
                f"the request holds {images} images; this server takes at most "
                f"{self._admission.capacity} at once"
            )
        if images > self.images:
            self._admission.take_now(images - self.images)
            self.images = images


class Admission:
    def __init__(self, capacity: int, workers: int, metrics: ServiceMetrics, *, max_wait_s: float) -> None:
        self.capacity = capacity
        self._workers = workers
        self._metrics = metrics
        self._max_wait_s = max_wait_s
        self._pending = 0
        self._line: deque[_Waiter] = deque()
        metrics.queue_capacity.set(capacity)

    @property
    def pending(self) -> int:
        """Images admitted and not yet answered."""
        return self._pending

    @contextlib.asynccontextmanager
    async def ticket(self, deadline: float) -> AsyncIterator[Ticket]:
        """One place for the block (a request's first image), waiting in line until the earlier
        of ``max_wait_s`` from now and ``deadline``; Overloaded if none frees up by then."""
        ticket = Ticket(self)
        ticket.waited = await self._acquire(1, min(deadline, time.monotonic() + self._max_wait_s))
        ticket.images = 1
        try:
            yield ticket
        finally:
            self.release(ticket.images)

    def take_now(self, images: int) -> None:
        """Take ``images`` more places if they are free now, ahead of the line; else Overloaded."""
        if self._pending + images > self.capacity:
            self._refuse()
        self._take(images)

    async def _acquire(self, images: int, until: float) -> bool:
        """Take ``images`` places, waiting in line until ``until`` if need be; True if it waited."""
        if not self._line and self._pending + images <= self.capacity:
            self._take(images)
            return False
        patience = until - time.monotonic()
        if patience <= 0:
            self._refuse()
        waiter = _Waiter(images, asyncio.get_running_loop().create_future())
        self._line.append(waiter)
        try:
            async with asyncio.timeout(patience):
                await asyncio.shield(waiter.granted)
        except TimeoutError:
            if not waiter.granted.done():
                self._line.remove(waiter)
                self._refuse()
        except asyncio.CancelledError:  # the request was cancelled while waiting
            if waiter.granted.done():
                self.release(images)
            else:
                self._line.remove(waiter)
            raise
        return True

    def release(self, images: int) -> None:
        if images:
            self._pending -= images
            self._grant()
            self._metrics.pending.set(self._pending)

    def _grant(self) -> None:
        """Let in the head of the line while it fits: first come, first served."""
        while self._line and self._pending + self._line[0].images <= self.capacity:
            waiter = self._line.popleft()
            self._take(waiter.images)
            waiter.granted.set_result(None)

    def _take(self, images: int) -> None:
        self._pending += images
        self._metrics.pending.set(self._pending)

    def _refuse(self) -> None:
        self._metrics.rejections.labels(reason="queue_full").inc()
        raise Overloaded(
            f"the server is at capacity ({self.capacity} images in flight); retry after a moment",
            headers={"Retry-After": str(self._retry_after_s())},
        )

    def _retry_after_s(self) -> int:
        waiting = sum(waiter.images for waiter in self._line)
        return max(1, math.ceil((self._pending + waiting) * _SECONDS_PER_IMAGE / self._workers))
