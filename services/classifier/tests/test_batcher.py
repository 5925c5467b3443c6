"""Dynamic batching: batches form, expired work is dropped, and every image's answer is the
one it gets alone. The batcher runs here with the real workers and the real model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from classifier.backends import InferenceBackend, load_model
from classifier.batcher import DynamicBatcher, Job
from classifier.config import Settings
from classifier.errors import InvalidImage
from classifier.metrics import ServiceMetrics
from classifier.prepare import ImagePreparation, Prepared
from classifier.workers import InferenceWorkers
from classifier_testkit import photos
from classifier_testkit.server import StartServer

MIX = ("coffee", "chelsea", "rocket", "astronaut", "camera", "coffee", "chelsea", "immunohistochemistry")


@pytest.fixture(scope="module")
def backend(artifact_dir: Path) -> InferenceBackend:
    return load_model(Settings(model_dir=artifact_dir), threads=1)[1]


@pytest.fixture(scope="module")
def preparation(artifact_dir: Path) -> ImagePreparation:
    artifact, _ = load_model(Settings(model_dir=artifact_dir))
    return ImagePreparation(artifact.metadata.preprocessing, max_pixels=10**8)


@pytest.fixture(scope="module")
def tensors(preparation: ImagePreparation) -> list[np.ndarray]:
    return [preparation(photos.encode(n)).tensor for n in MIX]


@asynccontextmanager
async def pipeline(
    backend: InferenceBackend, preparation: ImagePreparation, metrics: ServiceMetrics, **batching: float
) -> AsyncIterator[DynamicBatcher]:
    """A batcher and one worker running the model, as `inference.ImageClassifier` wires them."""
    batcher = DynamicBatcher(
        metrics, max_batch_size=int(batching["max_batch_size"]), max_wait_s=batching["max_wait_s"]
    )
    workers = InferenceWorkers(
        batcher,
        preparation,
        lambda batch, alone: backend.predict(batch, alone=alone),
        metrics,
        count=1,
        images_in_flight=lambda: 0,
    )
    workers.start()
    try:
        yield batcher
    finally:
        await workers.stop()


def job(tensor: np.ndarray | None = None, *, image: bytes | None = None, seconds: float = 30) -> Job:
    return Job(image, tensor, time.monotonic() + seconds, asyncio.get_running_loop().create_future())


def test_batched_outputs_equal_unbatched_outputs(
    backend: InferenceBackend, preparation: ImagePreparation, tensors: list[np.ndarray]
) -> None:
    alone = np.concatenate([backend.predict(t[None]) for t in tensors])
    metrics = ServiceMetrics()

    async def scenario() -> np.ndarray:
        async with pipeline(backend, preparation, metrics, max_batch_size=8, max_wait_s=0.05) as batcher:
            jobs = [job(t) for t in tensors]
            batcher.put(jobs)
            return np.stack(await asyncio.gather(*(j.answer for j in jobs)))

    together = asyncio.run(scenario())
    np.testing.assert_array_equal(together, alone)  # bit for bit: ONNX Runtime rows are independent
    batch_sizes = metrics.batch_size.collect()[0].samples
    count = next(s.value for s in batch_sizes if s.name.endswith("_count"))
    total = next(s.value for s in batch_sizes if s.name.endswith("_sum"))
    assert (count, total) == (1, 8), "eight jobs put inside max_wait form one batch"


def test_batch_waits_at_most_max_wait(
    backend: InferenceBackend, preparation: ImagePreparation, tensors: list[np.ndarray]
) -> None:
    async def scenario() -> float:
        async with pipeline(
            backend, preparation, ServiceMetrics(), max_batch_size=64, max_wait_s=0.2
        ) as batcher:
            started = time.monotonic()
            one = job(tensors[0])
            batcher.put([one])
            await one.answer
            return time.monotonic() - started

    elapsed = asyncio.run(scenario())
    assert 0.2 <= elapsed < 1.5  # waited for the batch to fill, then ran it alone


def test_expired_and_abandoned_jobs_are_dropped_not_computed(
    backend: InferenceBackend, preparation: ImagePreparation, tensors: list[np.ndarray]
) -> None:
    metrics = ServiceMetrics()

    async def scenario() -> bool:
        async with pipeline(backend, preparation, metrics, max_batch_size=8, max_wait_s=0.05) as batcher:
            expired, abandoned, wanted = job(tensors[0], seconds=0), job(tensors[1]), job(tensors[2])
            abandoned.abandoned = True
            batcher.put([expired, abandoned, wanted])
            await wanted.answer
            await asyncio.sleep(0.05)
            return expired.answer.done() or abandoned.answer.done()

    assert not asyncio.run(scenario()), "nobody waits for them: they get no answer at all"
    assert metrics.images._value.get() == 1


class _BuggyPreparation(ImagePreparation):
    """The real stage, except that the bytes b"bug" raise what a bug would (not a ServiceError)."""

    def __call__(self, data: bytes) -> Prepared:
        if data == b"bug":
            raise ValueError("a bug in the prepare stage")
        return super().__call__(data)


def test_an_image_that_fails_to_prepare_fails_alone(
    backend: InferenceBackend, artifact_dir: Path, tensors: list[np.ndarray]
) -> None:
    """A bad image, or a bug in preparing one, is its request's error, never its batch's."""
    artifact, _ = load_model(Settings(model_dir=artifact_dir))
    buggy = _BuggyPreparation(artifact.metadata.preprocessing, max_pixels=10**8)

    async def scenario() -> list[np.ndarray | BaseException]:
        async with pipeline(backend, buggy, ServiceMetrics(), max_batch_size=4, max_wait_s=0.1) as batcher:
            jobs = [
                job(image=b"not an image"),
                job(image=photos.encode("coffee")),
                job(image=b"bug"),
                job(tensors[1]),
            ]
            batcher.put(jobs)
            return await asyncio.gather(*(j.answer for j in jobs), return_exceptions=True)

    not_an_image, coffee, bug, chelsea = asyncio.run(scenario())
    assert isinstance(not_an_image, InvalidImage)
    assert isinstance(bug, ValueError)
    np.testing.assert_array_equal(coffee, backend.predict(tensors[0][None])[0])
    np.testing.assert_array_equal(chelsea, backend.predict(tensors[1][None])[0])


def test_a_worker_survives_a_bug_in_a_batch_and_answers_it(
    preparation: ImagePreparation, tensors: list[np.ndarray]
) -> None:
    """A model call that returns nothing usable (a bug past the model call's own error handling)
    fails that batch's requests; the worker thread lives on for the next batch."""
    calls = []

    def predict(batch: np.ndarray, alone: bool) -> np.ndarray:
        calls.append(len(batch))
        return None if len(calls) == 1 else batch.reshape(len(batch), -1)[:, :3]  # type: ignore[return-value]

    async def scenario() -> tuple[list[object], np.ndarray]:
        metrics = ServiceMetrics()
        batcher = DynamicBatcher(metrics, max_batch_size=2, max_wait_s=0.1)
        workers = InferenceWorkers(
            batcher, preparation, predict, metrics, count=1, images_in_flight=lambda: 0
        )
        workers.start()
        try:
            first = [job(tensors[0]), job(tensors[1])]
            batcher.put(first)
            failed = await asyncio.gather(*(j.answer for j in first), return_exceptions=True)
            later = job(tensors[2])
            batcher.put([later])
            return failed, await asyncio.wait_for(later.answer, 5)
        finally:
            await workers.stop()

    failed, later = asyncio.run(scenario())
    assert all(isinstance(outcome, TypeError) for outcome in failed)
    assert later.shape == (3,)


def test_http_answers_are_identical_with_and_without_batching(start_server: StartServer) -> None:
    batched = start_server(max_batch_size="8", max_batch_wait_ms="20", inference_workers="1")
    unbatched = start_server(max_batch_size="1", max_batch_wait_ms="0")
    bodies = [photos.encode(name) for name in MIX]

    async def post_all(base_url: str) -> list[dict[str, object]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v1/classify",
                        content=b,
                        headers={"content-type": "image/jpeg"},
                        params={"top_k": "5"},
                    )
                    for b in bodies
                )
            )
        return [r.json()["predictions"] for r in responses]

    assert asyncio.run(post_all(batched.base_url)) == asyncio.run(post_all(unbatched.base_url))
    assert batched.metric("classifier_batch_size_count") < len(bodies), "some requests shared a batch"
    assert unbatched.metric("classifier_batch_size_count") == len(bodies)
    batched.stop()
    unbatched.stop()
