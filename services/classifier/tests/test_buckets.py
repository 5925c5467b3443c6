"""Batch buckets: a GPU's model is called only with the bucket sizes, each warmed before readiness,
and padding never changes an image's answer. Run on the CPU with the real torch backend, so the
GPU path's bucketing stays correct where no GPU is available."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from classifier.backends import InferenceBackend, load_model
from classifier.batcher import DynamicBatcher, Job
from classifier.buckets import bucket_for, pad_to_bucket, power_of_two_buckets
from classifier.config import Settings
from classifier.inference import ImageClassifier
from classifier.metrics import ServiceMetrics
from classifier.prepare import ImagePreparation
from classifier.tuning import Tuning
from classifier.workers import InferenceWorkers
from classifier_testkit import photos

PHOTOS = ("coffee", "chelsea", "rocket")


class ShapeRecorder:
    """The real backend, noting the batch size of every call."""

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend, self.name, self.device = backend, backend.name, backend.device
        self.calls: list[tuple[int, bool]] = []

    def predict(self, batch: npt.NDArray[np.float32], *, alone: bool = False) -> npt.NDArray[np.float32]:
        self.calls.append((len(batch), alone))
        return self.backend.predict(batch, alone=alone)


@pytest.fixture(scope="module")
def torch_cpu(artifact_dir: Path) -> tuple[Settings, InferenceBackend, ImagePreparation]:
    settings = Settings(model_dir=artifact_dir, backend="torch", device="cpu", max_batch_size=8)
    artifact, backend = load_model(settings, threads=1)
    return settings, backend, ImagePreparation(artifact.metadata.preprocessing, max_pixels=10**8)


def test_power_of_two_buckets_end_at_the_largest_batch() -> None:
    assert power_of_two_buckets(64) == (1, 2, 4, 8, 16, 32, 64)
    assert power_of_two_buckets(48) == (1, 2, 4, 8, 16, 32, 48)
    assert power_of_two_buckets(1) == (1,)


def test_a_batch_goes_to_the_smallest_bucket_that_holds_it() -> None:
    buckets = (1, 2, 4, 8)
    assert [bucket_for(n, buckets) for n in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]
    assert bucket_for(5, ()) == 5  # no buckets (the CPU): as formed
    with pytest.raises(ValueError, match="larger than the largest bucket, 8"):
        bucket_for(9, buckets)


def test_padding_appends_zero_rows_only_when_needed() -> None:
    batch = np.ones((3, 3, 4, 4), dtype=np.float32)
    padded = pad_to_bucket(batch, (1, 2, 4, 8))
    assert padded.shape == (4, 3, 4, 4)
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:3], batch)
    assert not padded[3].any()
    two = batch[:2]
    assert pad_to_bucket(two, (1, 2, 4)) is two  # fits a bucket exactly: no copy


def test_the_gpu_tuning_buckets_and_the_cpu_tuning_does_not() -> None:
    assert Tuning.resolve(Settings(), backend="torch", accelerator=True, cpus=16).batch_buckets == (
        1, 2, 4, 8, 16, 32, 64,
    )  # fmt: skip
    assert Tuning.resolve(Settings(), backend="openvino", accelerator=False, cpus=2).batch_buckets == ()


def test_warm_up_runs_every_bucket_alone_and_shared(
    torch_cpu: tuple[Settings, InferenceBackend, ImagePreparation],
) -> None:
    settings, backend, _ = torch_cpu
    recorder = ShapeRecorder(backend)
    tuning = Tuning.resolve(settings, backend="torch", accelerator=True, cpus=2)
    classifier = ImageClassifier(
        load_model(settings)[0].metadata, recorder, ServiceMetrics(), tuning, max_image_pixels=10**8,
        admission_wait_s=0.0,
    )  # fmt: skip
    classifier.warm_up()
    assert sorted(recorder.calls) == [(size, alone) for size in (1, 2, 4, 8) for alone in (False, True)]


def test_a_padded_batch_answers_each_image_as_alone(
    torch_cpu: tuple[Settings, InferenceBackend, ImagePreparation],
) -> None:
    """Three images run as a bucket of four; each gets the answer it gets alone, the padding none."""
    _, backend, preparation = torch_cpu
    recorder = ShapeRecorder(backend)
    tensors = [preparation(photos.encode(name)).tensor for name in PHOTOS]
    alone = np.concatenate([backend.predict(t[None]) for t in tensors])

    async def scenario() -> np.ndarray:
        metrics = ServiceMetrics()
        batcher = DynamicBatcher(metrics, max_batch_size=8, max_wait_s=0.2)
        workers = InferenceWorkers(
            batcher,
            preparation,
            lambda batch, is_alone: recorder.predict(batch, alone=is_alone),
            metrics,
            count=1,
            images_in_flight=lambda: 0,
            buckets=(1, 2, 4, 8),
        )
        workers.start()
        loop = asyncio.get_running_loop()
        jobs = [Job(None, t, time.monotonic() + 30, loop.create_future()) for t in tensors]
        batcher.put(jobs)
        answers = await asyncio.gather(*(j.answer for j in jobs))
        await workers.stop()
        return np.stack(answers)

    together = asyncio.run(scenario())
    assert [size for size, _ in recorder.calls] == [4]
    np.testing.assert_allclose(together, alone, atol=1e-4)
    assert [row.argmax() for row in together] == [row.argmax() for row in alone]
