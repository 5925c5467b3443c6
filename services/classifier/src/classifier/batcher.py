"""Dynamic batching: queued jobs leave as one batch when the batch is full or the oldest has
waited ``max_wait``. Jobs whose request gave up or whose deadline passed are dropped here,
never computed (their request has already been answered, see `inference`).

The batcher only orders and groups; the worker threads (`workers`) take the batches and run
the stages. A worker takes its next batch straight from here, so it never waits for the event
loop between two batches; the event loop only puts jobs in.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass

from classifier.errors import NotReady
from classifier.metrics import ServiceMetrics
from classifier.prepare import Tensor


@dataclass(slots=True, eq=False)
class Job:
    """One image on its way through the pipeline, and where its answer goes."""

    image: bytes | None  # encoded, still to prepare; None once `tensor` is set
    tensor: Tensor | None
    deadline: float  # time.monotonic()
    answer: asyncio.Future[Tensor]
    enqueued: float = 0.0
    abandoned: bool = False  # its request failed, timed out or went away: skip it
    decode_s: float = 0.0
    preprocess_s: float = 0.0

    @property
    def wanted(self) -> bool:
        return not self.abandoned and time.monotonic() < self.deadline


class DynamicBatcher:
    def __init__(self, metrics: ServiceMetrics, *, max_batch_size: int, max_wait_s: float) -> None:
        self._metrics = metrics
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._queue: deque[Job] = deque()
        self._changed = threading.Condition()
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    def put(self, jobs: list[Job]) -> None:
        """Queue jobs (from the event loop); after `close`, nobody would take them: NotReady."""
        now = time.monotonic()
        with self._changed:
            if self._closed:
                raise NotReady("the server is shutting down")
            for job in jobs:
                job.enqueued = now
            self._queue.extend(jobs)
            self._metrics.queue_depth.set(len(self._queue))
            self._changed.notify(len(jobs))

    def next_batch(self) -> list[Job] | None:
        """Block until a batch is due (from a worker thread); None once closed. May be empty
        when everything due was dropped."""
        with self._changed:
            while not self._queue and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            fill_by = self._queue[0].enqueued + self._max_wait_s
            while len(self._queue) < self._max_batch_size and not self._closed:
                remaining = fill_by - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            batch: list[Job] = []
            now = time.monotonic()
            while self._queue and len(batch) < self._max_batch_size:
                job = self._queue.popleft()
                if job.wanted:
                    self._metrics.queue_wait.observe(now - job.enqueued)
                    batch.append(job)
            self._metrics.queue_depth.set(len(self._queue))
            return batch

    def close(self) -> list[Job]:
        """Stop handing out batches; return the jobs never taken."""
        with self._changed:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
            self._changed.notify_all()
        return left
