"""The inference workers: threads that take a batch and run its stages, in order.

1. prepare: every job still holding image bytes goes through `ImagePreparation` (inline
   decoding: on a CPU this keeps one busy thread per core instead of decode and inference
   threads fighting for the same cores), except the JPEGs a `DeviceDecoder` takes, which are
   decoded together on the model's device (device_decode.py). An image that cannot be prepared
   fails alone: its request gets the error, the rest of the batch still runs.
2. model: the prepared tensors, stacked and padded to their batch bucket (buckets.py), in one
   call; the padding rows' answers are dropped.
3. answer: each job's row (or error) goes back to the event loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

import numpy as np

from classifier.batcher import DynamicBatcher, Job
from classifier.buckets import pad_to_bucket
from classifier.device_decode import DecodedBatch, DeviceDecoder, batch_on_device
from classifier.metrics import ServiceMetrics
from classifier.prepare import ImagePreparation, Tensor

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("classifier")

# A batch: a numpy array, or a torch tensor already on the device when a DeviceDecoder made it.
ModelInput = Union[Tensor, "torch.Tensor"]
# predict(batch, alone): `alone` is true when no other model call is running or coming.
Predict = Callable[[ModelInput, bool], Tensor]


class InferenceWorkers:
    def __init__(
        self,
        batcher: DynamicBatcher,
        prepare: ImagePreparation,
        predict: Predict,
        metrics: ServiceMetrics,
        *,
        count: int,
        images_in_flight: Callable[[], int],
        buckets: tuple[int, ...] = (),
        device_decoder: DeviceDecoder | None = None,
    ) -> None:
        self._batcher = batcher
        self._prepare = prepare
        self._predict = predict
        self._metrics = metrics
        self._count = count
        # Images anywhere in the pipeline: a call runs "alone" only when nothing else is
        # coming, so a lone request may use every core.
        self._images_in_flight = images_in_flight
        self._buckets = buckets
        self._device_decoder = device_decoder
        self._running = 0
        self._running_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Start the threads; answers are delivered on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._threads = [
            threading.Thread(target=self._work, name=f"inference-{i}", daemon=True)
            for i in range(self._count)
        ]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        for job in self._batcher.close():
            job.answer.cancel()
        for thread in self._threads:
            await asyncio.to_thread(thread.join)

    def _work(self) -> None:
        while (batch := self._batcher.next_batch()) is not None:
            try:
                ready = [job for job in batch if self._prepared(job)]
                ready = [job for job in ready if job.wanted]  # preparing took time: check again
                if ready:
                    self._run(ready)
            except Exception as error:  # a bug: answer the batch, keep the thread
                logger.exception("inference worker failed", extra={"event": "worker_error"})
                for job in batch:
                    self._answer(job, error)

    def _prepared(self, job: Job) -> bool:
        """Run the prepare stage if the job still needs and wants it; False if it failed (and
        was answered) or its request no longer waits."""
        if job.image is None:
            return True
        if not job.wanted:
            return False
        try:
            if self._device_decoder is not None and self._device_decoder.accepts(job.image):
                return True  # decoded with its batch on the device (`_decode_on_device`)
        except Exception as error:  # its header says no: this image's failure, not the batch's
            self._answer(job, error)
            return False
        return self._prepare_on_cpu(job)

    def _decode_on_device(self, batch: list[Job]) -> tuple[list[Job], DecodedBatch | None]:
        """The batch with its device-bound JPEGs decoded there, in the order the model sees it
        (CPU-prepared first), and their device batch. If the device cannot decode them together,
        each is decoded alone there, and only those it cannot decode are prepared on the CPU: a
        corrupt one fails alone, with the CPU path's error."""
        encoded = [job for job in batch if job.image is not None]
        if not encoded or self._device_decoder is None:
            return batch, None
        decoder = self._device_decoder
        prepared = [job for job in batch if job.image is None]
        try:
            decoded = decoder([job.image for job in encoded if job.image is not None])
        except Exception:  # one image spoils a batched decode: find it, decode the rest there
            alone = [(job, self._decode_alone(decoder, job)) for job in encoded]
            prepared += [job for job, one in alone if one is None and self._prepare_on_cpu(job)]
            encoded = [job for job, one in alone if one is not None]
            if not encoded:
                return prepared, None
            decoded = DecodedBatch.joined([one for _, one in alone if one is not None])
        for job in encoded:
            job.image = None
            job.decode_s = decoded.decode_s / len(encoded)
            job.preprocess_s = decoded.preprocess_s / len(encoded)
        return prepared + encoded, decoded

    def _decode_alone(self, decoder: DeviceDecoder, job: Job) -> DecodedBatch | None:
        """One image on the device; None (counted) when the device cannot decode it."""
        assert job.image is not None
        try:
            return decoder([job.image])
        except Exception:
            self._metrics.device_decode_fallbacks.inc()
            return None

    def _prepare_on_cpu(self, job: Job) -> bool:
        """Prepare a job's image here; False if it failed (and was answered)."""
        assert job.image is not None
        try:
            prepared = self._prepare(job.image)
        except Exception as error:  # this image's failure, not the batch's
            self._answer(job, error)
            return False
        job.image, job.tensor = None, prepared.tensor
        job.decode_s, job.preprocess_s = prepared.decode_s, prepared.preprocess_s
        return True

    def _run(self, batch: list[Job]) -> None:
        batch, on_device = self._decode_on_device(batch)
        if not batch:
            return
        with self._running_lock:
            alone = self._running == 0 and not self._batcher.queued and self._images_in_flight() <= len(batch)
            self._running += 1
        try:
            started = time.perf_counter()
            tensors = [job.tensor for job in batch if job.tensor is not None]
            inputs: ModelInput = (
                pad_to_bucket(np.stack(tensors), self._buckets)
                if on_device is None
                else batch_on_device(tensors, on_device, self._buckets)
            )
            outputs = self._predict(inputs, alone)[: len(batch)]
            elapsed = time.perf_counter() - started
        except Exception as error:  # the backend failed: every image in the batch fails
            for job in batch:
                self._answer(job, error)
            return
        finally:
            with self._running_lock:
                self._running -= 1
        self._metrics.batch_size.observe(len(batch))
        self._metrics.inference_duration.observe(elapsed)
        self._metrics.images.inc(len(batch))
        for job, row in zip(batch, outputs, strict=True):
            self._answer(job, row)

    def _answer(self, job: Job, outcome: Tensor | BaseException) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed at shutdown: nobody waits
            self._loop.call_soon_threadsafe(_settle, job.answer, outcome)


def _settle(answer: asyncio.Future[Tensor], outcome: Tensor | BaseException) -> None:
    """On the event loop: complete the job's future unless its request stopped waiting."""
    if answer.done():
        return
    if isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)
