"""Dynamic batching: queued images become one model call when the batch is full or the
oldest has waited ``max_wait``. Images whose deadline passed are dropped before they are
computed.

The workers are plain threads that take batches straight from the queue, so a worker never
waits for the event loop between two batches: on a CPU each core stays busy with its own
single-threaded pipeline, and on a GPU one batch is prepared while another computes. The
event loop only enqueues and receives results (``call_soon_threadsafe``).

A queued item is either a ready tensor (decoded on the decode pool) or a preparation the
worker runs just before the model call ("inline" decoding: on a CPU this keeps one busy
thread per core instead of decode and inference threads fighting for the same cores).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from classifier.errors import DeadlineExceeded, ServiceError
from classifier.metrics import ServiceMetrics

Tensor = npt.NDArray[np.float32]
Work = Tensor | Callable[[], Tensor]
# predict(batch, alone): `alone` is true when no other model call is running.
Predict = Callable[[Tensor, bool], Tensor]


@dataclass(slots=True)
class _Queued:
    work: Work
    deadline: float
    enqueued: float
    result: asyncio.Future[Tensor]
    abandoned: bool = field(default=False)  # set by the loop when the client went away


class DynamicBatcher:
    def __init__(
        self,
        predict: Predict,
        metrics: ServiceMetrics,
        *,
        max_batch_size: int,
        max_wait_s: float,
        workers: int,
        images_in_flight: Callable[[], int] | None = None,
    ) -> None:
        self._predict = predict
        self._metrics = metrics
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._worker_count = workers
        self._queue: deque[_Queued] = deque()
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._running = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        # Images anywhere in the pipeline (decoding included): a call runs "alone" only when
        # nothing else is coming, so a lone request may use every core.
        self._images_in_flight = images_in_flight or (lambda: 0)

    def start(self) -> None:
        """Start the worker threads; results are delivered on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._threads = [
            threading.Thread(target=self._work, name=f"inference-{i}", daemon=True)
            for i in range(self._worker_count)
        ]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        with self._changed:
            self._stopping = True
            abandoned = list(self._queue)
            self._queue.clear()
            self._changed.notify_all()
        for entry in abandoned:
            entry.result.cancel()
        for thread in self._threads:
            await asyncio.to_thread(thread.join)

    async def submit(self, works: list[Work], deadline: float) -> Tensor:
        """Queue the images; return their outputs, stacked, once their batches ran."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        entries = [_Queued(work, deadline, now, loop.create_future()) for work in works]
        with self._changed:
            self._queue.extend(entries)
            self._metrics.queue_depth.set(len(self._queue))
            self._changed.notify(len(entries))
        try:
            rows = await asyncio.gather(*(entry.result for entry in entries))
        except BaseException:
            for entry in entries:
                entry.abandoned = True  # still queued: the worker skips it
            raise
        return np.stack(rows)

    # ------------------------------------------------------------ worker threads

    def _work(self) -> None:
        while True:
            batch, alone = self._next_batch()
            if batch is None:
                return
            if batch:
                self._run(batch, alone)

    def _next_batch(self) -> tuple[list[_Queued] | None, bool]:
        with self._changed:
            while not self._queue and not self._stopping:
                self._changed.wait()
            if self._stopping:
                return None, False
            fill_by = self._queue[0].enqueued + self._max_wait_s
            while len(self._queue) < self._max_batch_size and not self._stopping:
                remaining = fill_by - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            batch: list[_Queued] = []
            now = time.monotonic()
            while self._queue and len(batch) < self._max_batch_size:
                entry = self._queue.popleft()
                if entry.abandoned:
                    continue
                if entry.deadline <= now:
                    self._metrics.rejections.labels(reason="deadline").inc()
                    self._deliver(
                        entry, DeadlineExceeded("the request's deadline passed while it was queued")
                    )
                    continue
                self._metrics.queue_wait.observe(now - entry.enqueued)
                batch.append(entry)
            self._metrics.queue_depth.set(len(self._queue))
            alone = self._running == 0 and not self._queue and self._images_in_flight() <= len(batch)
            if batch:
                self._running += 1
            return batch, alone

    def _run(self, batch: list[_Queued], alone: bool) -> None:
        try:
            outcome = _compute(self._predict, [entry.work for entry in batch], alone)
        except Exception as error:  # the backend failed: every image in the batch fails
            for entry in batch:
                self._deliver(entry, error)
            return
        finally:
            with self._changed:
                self._running -= 1
        if outcome.computed:
            self._metrics.batch_size.observe(outcome.computed)
            self._metrics.inference_duration.observe(outcome.model_seconds)
            self._metrics.images.inc(outcome.computed)
        for entry, row in zip(batch, outcome.rows, strict=True):
            self._deliver(entry, row)

    def _deliver(self, entry: _Queued, outcome: Tensor | BaseException) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle, entry.result, outcome)


def _settle(result: asyncio.Future[Tensor], outcome: Tensor | BaseException) -> None:
    """On the event loop: complete the request's future unless its client went away."""
    if result.done():
        return
    if isinstance(outcome, BaseException):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)


@dataclass(slots=True)
class _Outcome:
    rows: list[Tensor | ServiceError]
    computed: int
    model_seconds: float


def _compute(predict: Predict, works: list[Work], alone: bool) -> _Outcome:
    """Prepare what is not ready, stack, run the model once.

    An image that fails to decode fails alone (its client gets the 4xx); the rest still run.
    """
    prepared: list[Tensor | ServiceError] = []
    for work in works:
        try:
            prepared.append(work() if callable(work) else work)
        except ServiceError as error:
            prepared.append(error)
    tensors = [item for item in prepared if not isinstance(item, ServiceError)]
    if not tensors:
        return _Outcome(prepared, 0, 0.0)
    started = time.perf_counter()
    outputs = iter(predict(np.stack(tensors), alone))
    elapsed = time.perf_counter() - started
    rows = [item if isinstance(item, ServiceError) else next(outputs) for item in prepared]
    return _Outcome(rows, len(tensors), elapsed)
