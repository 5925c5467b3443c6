"""Batch buckets: the few batch sizes a model is ever called with, each warmed before readiness.

On a GPU every new input shape costs its first call cuDNN's planning for that shape: 1.3-5 s per
batch size on an H200 (issue #18's measurements), so a batcher that forms any size from 1 to 64
spends a loaded service's time planning. Padding each batch up to the next bucket (powers of two
up to the largest batch) bounds the shapes to a handful, all run once at start-up. Padding rows
are zeros and are dropped from the answer: in inference every image's row depends on that image
alone.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def power_of_two_buckets(max_batch_size: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to and including ``max_batch_size`` (itself a bucket when not a power of two)."""
    sizes = [1 << i for i in range(max_batch_size.bit_length()) if 1 << i < max_batch_size]
    return (*sizes, max_batch_size)


def bucket_for(size: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket that holds ``size`` images; ``size`` itself when there are no buckets."""
    if not buckets:
        return size
    fitting = [bucket for bucket in buckets if bucket >= size]
    if not fitting:
        raise ValueError(f"a batch of {size} is larger than the largest bucket, {max(buckets)}")
    return min(fitting)


def pad_to_bucket(batch: npt.NDArray[np.float32], buckets: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """``batch`` with zero rows appended up to its bucket (the same array when it fits exactly)."""
    missing = bucket_for(len(batch), buckets) - len(batch)
    if missing == 0:
        return batch
    padding = np.zeros((missing, *batch.shape[1:]), dtype=batch.dtype)
    return np.concatenate([batch, padding])
