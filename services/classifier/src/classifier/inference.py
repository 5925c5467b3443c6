"""The request path's work, in order: admit, decode + preprocess, batch, run the model.

Admission bounds how many images are in the pipeline at once (429 beyond that), so latency
and memory cannot grow without bound. Decode/preprocess run on their own thread pool and
overlap with inference; inference runs on the batcher's workers, off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classifier.admission import Admission
from classifier.artifact import ModelMetadata
from classifier.backends import InferenceBackend
from classifier.batcher import DynamicBatcher, Predict, Work
from classifier.decode import decode_image
from classifier.errors import DeadlineExceeded
from classifier.metrics import ServiceMetrics
from classifier.preprocess import preprocess
from classifier.tuning import Tuning

MAX_IMAGES_PER_REQUEST = 64


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    index: int
    score: float


@dataclass(frozen=True, slots=True)
class Timings:
    decode_ms: float
    preprocess_ms: float
    queue_and_inference_ms: float


class ImageClassifier:
    """Owns the loaded model, the decode pool, the batcher and the admission bound."""

    def __init__(
        self,
        metadata: ModelMetadata,
        backend: InferenceBackend,
        metrics: ServiceMetrics,
        tuning: Tuning,
        *,
        max_image_pixels: int,
    ) -> None:
        self.metadata = metadata
        self.backend = backend
        self.tuning = tuning
        self._metrics = metrics
        self._max_image_pixels = max_image_pixels
        self._decode_pool = (
            None
            if tuning.decode_inline
            else ThreadPoolExecutor(tuning.decode_workers, thread_name_prefix="decode")
        )
        self._batcher = DynamicBatcher(
            _probabilities(backend),
            metrics,
            max_batch_size=tuning.max_batch_size,
            max_wait_s=tuning.max_batch_wait_s,
            workers=tuning.inference_workers,
            images_in_flight=lambda: self.admission.pending,
        )
        self.admission = Admission(tuning.queue_capacity, tuning.inference_workers, metrics)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        size = self.metadata.input_size
        return (3, size, size)

    def warm_up(self) -> None:
        """Run every batch size up to the maximum once, so no request pays for lazy setup."""
        for size in sorted({1, self.tuning.max_batch_size}):
            for alone in (False, True):
                self.backend.predict(np.zeros((size, *self.input_shape), dtype=np.float32), alone=alone)

    def start(self) -> None:
        """Start the batch workers (needs the running event loop)."""
        self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop()
        if self._decode_pool is not None:
            self._decode_pool.shutdown(wait=True, cancel_futures=True)

    async def classify_images(
        self, images: list[bytes], deadline: float
    ) -> tuple[npt.NDArray[np.float32], Timings]:
        """Probabilities ``[N, classes]`` for encoded images, with per-stage timings."""
        with self.admission.hold(len(images)):
            preparations = [
                _Preparation(data, self._max_image_pixels, self.metadata, self._metrics) for data in images
            ]
            works: list[Work] = list(preparations)
            if self._decode_pool is not None:
                loop = asyncio.get_running_loop()
                works = list(
                    await asyncio.gather(*(loop.run_in_executor(self._decode_pool, p) for p in preparations))
                )
                _check_deadline(deadline, self._metrics)
            started = time.perf_counter()
            probabilities = await self._batcher.submit(works, deadline)
            decode_ms = sum(p.decode_ms for p in preparations)
            preprocess_ms = sum(p.preprocess_ms for p in preparations)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if self._decode_pool is None:  # decoded inside the batch worker: not queue or model time
                elapsed_ms -= decode_ms + preprocess_ms
            return probabilities, Timings(decode_ms, preprocess_ms, max(0.0, elapsed_ms))

    async def classify_tensor(
        self, batch: npt.NDArray[np.float32], deadline: float
    ) -> npt.NDArray[np.float32]:
        with self.admission.hold(len(batch)):
            return await self._batcher.submit(list(batch), deadline)

    def top_k(self, probabilities: npt.NDArray[np.float32], k: int) -> list[Prediction]:
        candidates = np.argpartition(-probabilities, k - 1)[:k]
        indices = candidates[np.argsort(-probabilities[candidates], kind="stable")]
        return [
            Prediction(label=self.metadata.labels[i], index=int(i), score=float(probabilities[i]))
            for i in indices
        ]


class _Preparation:
    """Decode and preprocess one image when called (on whichever thread runs it), timing both."""

    __slots__ = ("_data", "_max_pixels", "_metadata", "_metrics", "decode_ms", "preprocess_ms")

    def __init__(
        self, data: bytes, max_pixels: int, metadata: ModelMetadata, metrics: ServiceMetrics
    ) -> None:
        self._data = data
        self._max_pixels = max_pixels
        self._metadata = metadata
        self._metrics = metrics
        self.decode_ms = 0.0
        self.preprocess_ms = 0.0

    def __call__(self) -> npt.NDArray[np.float32]:
        spec = self._metadata.preprocessing
        started = time.perf_counter()
        image = decode_image(self._data, max_pixels=self._max_pixels, target=spec.resize_shorter_side)
        decoded = time.perf_counter()
        tensor = preprocess(image, spec)
        done = time.perf_counter()
        self._metrics.decode_duration.observe(decoded - started)
        self._metrics.preprocess_duration.observe(done - decoded)
        self.decode_ms, self.preprocess_ms = (decoded - started) * 1000, (done - decoded) * 1000
        return tensor


def _check_deadline(deadline: float, metrics: ServiceMetrics) -> None:
    if time.monotonic() >= deadline:
        metrics.rejections.labels(reason="deadline").inc()
        raise DeadlineExceeded("the request's deadline passed before it reached the model")


def _probabilities(backend: InferenceBackend) -> Predict:
    def predict(batch: npt.NDArray[np.float32], alone: bool) -> npt.NDArray[np.float32]:
        return softmax(backend.predict(batch, alone=alone))

    return predict


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    result: npt.NDArray[np.float32] = exponentials / exponentials.sum(axis=1, keepdims=True)
    return result
