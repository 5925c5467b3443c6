"""Dynamic batching: batches form, and every image's answer is the one it gets alone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from classifier.backends import InferenceBackend, load_model
from classifier.batcher import DynamicBatcher, Predict
from classifier.config import Settings
from classifier.decode import decode_image
from classifier.metrics import ServiceMetrics
from classifier.modelbuild import photos
from classifier.preprocess import preprocess

from .conftest import StartServer

MIX = ("coffee", "chelsea", "rocket", "astronaut", "camera", "coffee", "chelsea", "immunohistochemistry")


@pytest.fixture(scope="module")
def tensors(artifact_dir: Path) -> list[np.ndarray]:
    artifact, _ = load_model(Settings(model_dir=artifact_dir))
    spec = artifact.metadata.preprocessing
    return [preprocess(decode_image(photos.encode(n), max_pixels=10**8), spec) for n in MIX]


def _predict(backend: InferenceBackend) -> Predict:
    return lambda batch, alone: backend.predict(batch, alone=alone)


def test_batched_outputs_equal_unbatched_outputs(artifact_dir: Path, tensors: list[np.ndarray]) -> None:
    _, backend = load_model(Settings(model_dir=artifact_dir), threads=1)
    alone = np.concatenate([backend.predict(t[None]) for t in tensors])
    metrics = ServiceMetrics()

    async def scenario() -> np.ndarray:
        batcher = DynamicBatcher(_predict(backend), metrics, max_batch_size=8, max_wait_s=0.05, workers=1)
        batcher.start()
        deadline = time.monotonic() + 30
        rows = await asyncio.gather(*(batcher.submit([t], deadline) for t in tensors))
        await batcher.stop()
        return np.concatenate(rows)

    together = asyncio.run(scenario())
    np.testing.assert_array_equal(together, alone)  # bit for bit: ONNX Runtime rows are independent
    batch_sizes = metrics.batch_size.collect()[0].samples
    count = next(s.value for s in batch_sizes if s.name.endswith("_count"))
    total = next(s.value for s in batch_sizes if s.name.endswith("_sum"))
    assert (count, total) == (1, 8), "eight concurrent submissions inside max_wait form one batch"


def test_batch_waits_at_most_max_wait(artifact_dir: Path, tensors: list[np.ndarray]) -> None:
    _, backend = load_model(Settings(model_dir=artifact_dir), threads=1)

    async def scenario() -> float:
        batcher = DynamicBatcher(
            _predict(backend), ServiceMetrics(), max_batch_size=64, max_wait_s=0.2, workers=1
        )
        batcher.start()
        started = time.monotonic()
        await batcher.submit([tensors[0]], time.monotonic() + 30)
        elapsed = time.monotonic() - started
        await batcher.stop()
        return elapsed

    elapsed = asyncio.run(scenario())
    assert 0.2 <= elapsed < 1.5  # waited for the batch to fill, then ran it alone


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
