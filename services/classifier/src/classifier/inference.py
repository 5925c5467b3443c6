"""The request path's work: decode and preprocess off the event loop, then run the model.

Decode/preprocess and inference have their own thread pools, so CPU-bound image work never
blocks the event loop and overlaps with the model running on another request.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classifier.artifact import ModelMetadata
from classifier.backends import InferenceBackend
from classifier.decode import decode_image
from classifier.metrics import ServiceMetrics
from classifier.preprocess import preprocess

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
    inference_ms: float


class ImageClassifier:
    """Owns the loaded model and the pools that feed it."""

    def __init__(
        self,
        metadata: ModelMetadata,
        backend: InferenceBackend,
        metrics: ServiceMetrics,
        *,
        max_image_pixels: int,
        decode_workers: int | None = None,
    ) -> None:
        self.metadata = metadata
        self.backend = backend
        self._metrics = metrics
        self._max_image_pixels = max_image_pixels
        self._decode_pool = ThreadPoolExecutor(
            max_workers=decode_workers or os.cpu_count() or 1, thread_name_prefix="decode"
        )
        # One inference at a time: the backend already uses every core inside one call.
        self._inference_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        size = self.metadata.input_size
        return (3, size, size)

    def warm_up(self) -> None:
        """One inference on a blank batch, so the first request does not pay for lazy setup."""
        self.backend.predict(np.zeros((1, *self.input_shape), dtype=np.float32))

    async def classify_images(self, images: list[bytes]) -> tuple[npt.NDArray[np.float32], Timings]:
        """Probabilities ``[N, classes]`` for encoded images, with per-stage timings."""
        loop = asyncio.get_running_loop()
        prepared = await asyncio.gather(
            *(loop.run_in_executor(self._decode_pool, self._prepare, data) for data in images)
        )
        batch = np.stack([tensor for tensor, _, _ in prepared])
        probabilities, inference_ms = await self._infer(batch)
        return probabilities, Timings(
            decode_ms=sum(decode for _, decode, _ in prepared),
            preprocess_ms=sum(pre for _, _, pre in prepared),
            inference_ms=inference_ms,
        )

    async def classify_tensor(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        probabilities, _ = await self._infer(batch)
        return probabilities

    def top_k(self, probabilities: npt.NDArray[np.float32], k: int) -> list[Prediction]:
        indices = np.argsort(-probabilities, kind="stable")[:k]
        return [
            Prediction(label=self.metadata.labels[i], index=int(i), score=float(probabilities[i]))
            for i in indices
        ]

    def close(self) -> None:
        self._decode_pool.shutdown(wait=True, cancel_futures=True)
        self._inference_pool.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, data: bytes) -> tuple[npt.NDArray[np.float32], float, float]:
        started = time.perf_counter()
        image = decode_image(data, max_pixels=self._max_image_pixels)
        decoded = time.perf_counter()
        tensor = preprocess(image, self.metadata.preprocessing)
        done = time.perf_counter()
        self._metrics.decode_duration.observe(decoded - started)
        self._metrics.preprocess_duration.observe(done - decoded)
        return tensor, (decoded - started) * 1000, (done - decoded) * 1000

    async def _infer(self, batch: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], float]:
        loop = asyncio.get_running_loop()
        logits, elapsed = await loop.run_in_executor(self._inference_pool, self._predict, batch)
        self._metrics.inference_duration.observe(elapsed)
        self._metrics.images.inc(len(batch))
        return softmax(logits), elapsed * 1000

    def _predict(self, batch: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], float]:
        started = time.perf_counter()
        logits = self.backend.predict(batch)
        return logits, time.perf_counter() - started


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    result: npt.NDArray[np.float32] = exponentials / exponentials.sum(axis=1, keepdims=True)
    return result
