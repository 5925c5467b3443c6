"""The loaded model and its pipeline: prepare stage, batcher, inference workers, admission.

`run` takes a request's images (or a ready tensor) through the pipeline and answers at the
latest at the request's deadline: a request still queued or decoding then gets its 504 at
once, and its remaining work is dropped where it waits (the batcher, the decode pool).
Decoding runs on the inference workers (CPU: one pipeline per core) or on its own pool (GPU:
one batch is prepared while another computes).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simplejpeg

from classifier.admission import Admission
from classifier.artifact import ModelMetadata
from classifier.backends import InferenceBackend
from classifier.batcher import DynamicBatcher, Job
from classifier.device_decode import DeviceDecoder
from classifier.errors import DeadlineExceeded, NotReady
from classifier.metrics import ServiceMetrics
from classifier.prediction_signals import PredictionSignals
from classifier.prepare import ImagePreparation, Tensor
from classifier.tuning import Tuning
from classifier.workers import InferenceWorkers, Predict

MAX_IMAGES_PER_REQUEST = 64


@dataclass(frozen=True, slots=True)
class EncodedImages:
    """JPEG, PNG or WebP bytes, one per image: they go through the prepare stage."""

    images: list[bytes]

    @property
    def count(self) -> int:
        return len(self.images)


@dataclass(frozen=True, slots=True)
class TensorBatch:
    """Already-preprocessed model input, ``[N, 3, H, W]``: straight to the batcher."""

    tensor: Tensor

    @property
    def count(self) -> int:
        return len(self.tensor)


Inputs = EncodedImages | TensorBatch


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    index: int
    score: float


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds a request's images spent in each stage (summed over its images)."""

    decode_s: float
    preprocess_s: float
    queue_and_inference_s: float


class ImageClassifier:
    def __init__(
        self,
        metadata: ModelMetadata,
        backend: InferenceBackend,
        metrics: ServiceMetrics,
        tuning: Tuning,
        *,
        max_image_pixels: int,
        admission_wait_s: float,
    ) -> None:
        self.metadata = metadata
        self.backend = backend
        self._stopped = False
        self.tuning = tuning
        self._metrics = metrics
        self.admission = Admission(
            tuning.queue_capacity, tuning.inference_workers, metrics, max_wait_s=admission_wait_s
        )
        self.signals = PredictionSignals(metadata, metrics)
        self._prepare = ImagePreparation(metadata.preprocessing, max_image_pixels, metrics)
        self._device_decoder = (
            DeviceDecoder(metadata.preprocessing, max_image_pixels, backend.device, metrics)
            if tuning.decode_on_device
            else None
        )
        self._decode_pool = (
            None
            if tuning.decode_inline
            else ThreadPoolExecutor(tuning.decode_workers, thread_name_prefix="decode")
        )
        self._batcher = DynamicBatcher(
            metrics, max_batch_size=tuning.max_batch_size, max_wait_s=tuning.max_batch_wait_s
        )
        self._workers = InferenceWorkers(
            self._batcher,
            self._prepare,
            _probabilities(backend),
            metrics,
            count=tuning.inference_workers,
            images_in_flight=lambda: self.admission.pending,
            buckets=tuning.batch_buckets,
            device_decoder=self._device_decoder,
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        size = self.metadata.input_size
        return (3, size, size)

    def warm_up(self) -> None:
        """Run every batch size the model will be called with once (every bucket, or 1 and the
        largest batch), each alone and shared, so no request pays for lazy setup; readiness
        waits for this (runtime.py)."""
        for size in self.tuning.batch_buckets or sorted({1, self.tuning.max_batch_size}):
            for alone in (False, True):
                self.backend.predict(np.zeros((size, *self.input_shape), dtype=np.float32), alone=alone)
        if self._device_decoder is not None:  # the decoder's own set-up (nvJPEG's handles), once
            blank = simplejpeg.encode_jpeg(np.zeros((self.input_shape[1], self.input_shape[2], 3), np.uint8))
            self._device_decoder([blank] * self.tuning.max_batch_size, record=False)

    def start(self) -> None:
        """Start the inference workers (needs the running event loop)."""
        self._workers.start()

    async def stop(self) -> None:
        self._stopped = True
        await self._workers.stop()
        if self._decode_pool is not None:
            await asyncio.to_thread(self._decode_pool.shutdown, wait=True, cancel_futures=True)

    async def run(self, inputs: Inputs, deadline: float) -> tuple[npt.NDArray[np.float32], StageTimes]:
        """Probabilities ``[N, classes]`` for the inputs, and the time each stage took."""
        if self._stopped:
            raise NotReady("the server is shutting down")
        loop = asyncio.get_running_loop()
        if isinstance(inputs, EncodedImages):
            jobs = [Job(image, None, deadline, loop.create_future()) for image in inputs.images]
        else:
            jobs = [Job(None, row, deadline, loop.create_future()) for row in inputs.tensor]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                if self._decode_pool is not None and isinstance(inputs, EncodedImages):
                    await self._prepare_on_pool(jobs)
                    started = time.perf_counter()
                self._batcher.put(jobs)
                rows = await asyncio.gather(*(job.answer for job in jobs))
        except TimeoutError:
            self._metrics.rejections.labels(reason="deadline").inc()
            raise DeadlineExceeded("the request's deadline passed before it was computed") from None
        finally:
            for job in jobs:  # whatever still waits anywhere is not worth computing now
                _abandon(job)
        decode_s = sum(job.decode_s for job in jobs)
        preprocess_s = sum(job.preprocess_s for job in jobs)
        elapsed = time.perf_counter() - started
        if self._decode_pool is None:  # prepared inside the worker: not queue or model time
            elapsed -= decode_s + preprocess_s
        return np.stack(rows), StageTimes(decode_s, preprocess_s, max(0.0, elapsed))

    async def _prepare_on_pool(self, jobs: list[Job]) -> None:
        """The prepare stage on the decode pool; the first failure drops the request's other images."""
        loop = asyncio.get_running_loop()
        pending = [loop.run_in_executor(self._decode_pool, self._prepare_job, job) for job in jobs]
        try:
            await asyncio.gather(*pending)
        except BaseException:
            for job in jobs:
                job.abandoned = True
            for future in pending:
                _discard(future)
            raise

    def _prepare_job(self, job: Job) -> None:
        """On a decode thread: prepare one image unless its request no longer wants it (one
        decode already running when its request fails or expires still finishes)."""
        if job.image is None or not job.wanted:
            return
        prepared = self._prepare(job.image)
        job.image, job.tensor = None, prepared.tensor
        job.decode_s, job.preprocess_s = prepared.decode_s, prepared.preprocess_s

    def top_k(self, probabilities: npt.NDArray[np.float32], k: int) -> list[Prediction]:
        k = min(k, len(probabilities))
        candidates = np.argpartition(-probabilities, k - 1)[:k]
        indices = candidates[np.argsort(-probabilities[candidates], kind="stable")]
        return [
            Prediction(label=self.metadata.labels[i], index=int(i), score=float(probabilities[i]))
            for i in indices
        ]


def _abandon(job: Job) -> None:
    job.abandoned = True
    _discard(job.answer)


def _discard(future: asyncio.Future[Any]) -> None:
    """Cancel a future nobody awaits any more; a failure it already holds counts as seen."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()


def _probabilities(backend: InferenceBackend) -> Predict:
    def predict(batch: Any, alone: bool) -> npt.NDArray[np.float32]:
        return softmax(backend.predict(batch, alone=alone))

    return predict


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    result: npt.NDArray[np.float32] = exponentials / exponentials.sum(axis=1, keepdims=True)
    return result
