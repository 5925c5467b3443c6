"""The named stage "encoded image -> model input": decode, then resize, crop and normalise.

The service runs it on an inference worker just before the model call (CPU) or on the decode
pool (GPU); the benchmarks run the very same stage in-process. Both halves are timed, because
a photo's cost is mostly here and not in the model (docs/performance.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classifier.artifact import Preprocessing
from classifier.decode import decode_image
from classifier.metrics import ServiceMetrics
from classifier.preprocess import preprocess

Tensor = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Prepared:
    tensor: Tensor  # [3, crop, crop], normalised as the model was trained
    decode_s: float
    preprocess_s: float


class ImagePreparation:
    """Turns one client's image bytes into the model's input; refuses what is not a sane photo."""

    __slots__ = ("_max_pixels", "_metrics", "_spec")

    def __init__(self, spec: Preprocessing, max_pixels: int, metrics: ServiceMetrics | None = None) -> None:
        self._spec = spec
        self._max_pixels = max_pixels
        self._metrics = metrics

    def __call__(self, data: bytes) -> Prepared:
        started = time.perf_counter()
        pixels = decode_image(data, max_pixels=self._max_pixels, target=self._spec.resize_shorter_side)
        decoded = time.perf_counter()
        tensor = preprocess(pixels, self._spec)
        done = time.perf_counter()
        if self._metrics is not None:
            self._metrics.decode_duration.observe(decoded - started)
            self._metrics.preprocess_duration.observe(done - decoded)
        return Prepared(tensor, decoded - started, done - decoded)
