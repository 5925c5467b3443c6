"""Both backends load the artifact and give the right, and the same, answers on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier.backends import load_model
from classifier.config import Settings
from classifier.decode import decode_image
from classifier.preprocess import preprocess
from classifier_modelbuild.parity import top5
from classifier_testkit import photos
from classifier_testkit.server import StartServer

PHOTOS = ("coffee", "chelsea", "rocket", "astronaut")


@pytest.fixture(scope="module")
def batch(artifact_dir: Path) -> np.ndarray:
    artifact, _ = load_model(Settings(model_dir=artifact_dir))
    spec = artifact.metadata.preprocessing
    return np.stack([preprocess(decode_image(photos.encode(n), max_pixels=10**8), spec) for n in PHOTOS])


@pytest.fixture(scope="module", params=["onnxruntime", "torch"])
def logits(request: pytest.FixtureRequest, artifact_dir: Path, batch: np.ndarray) -> np.ndarray:
    _, backend = load_model(Settings(model_dir=artifact_dir, backend=request.param, inference_threads=2))
    assert backend.name == request.param
    assert backend.device == "cpu"
    return backend.predict(batch)


def test_predictions_are_right(artifact_dir: Path, logits: np.ndarray) -> None:
    artifact, _ = load_model(Settings(model_dir=artifact_dir))
    labels = artifact.metadata.labels
    for name, row in zip(PHOTOS[:3], logits, strict=False):
        assert labels[int(row.argmax())] in photos.EXPECTED_TOP1[name], name
    assert logits.shape == (len(PHOTOS), 1000)
    assert logits.dtype == np.float32


def test_backends_agree_on_top5(artifact_dir: Path, batch: np.ndarray) -> None:
    results = {}
    for backend_name in ("onnxruntime", "torch"):
        _, backend = load_model(Settings(model_dir=artifact_dir, backend=backend_name, inference_threads=2))
        results[backend_name] = backend.predict(batch)
    assert top5(results["onnxruntime"]) == top5(results["torch"])
    np.testing.assert_allclose(results["onnxruntime"], results["torch"], atol=2e-3)


def test_batch_answers_equal_single_answers(artifact_dir: Path, batch: np.ndarray) -> None:
    _, backend = load_model(Settings(model_dir=artifact_dir, inference_threads=2))
    together = backend.predict(batch)
    alone = np.concatenate([backend.predict(batch[i : i + 1]) for i in range(len(batch))])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    assert top5(together) == top5(alone)


def test_device_choice_follows_the_hardware(artifact_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        _, backend = load_model(Settings(model_dir=artifact_dir, backend="torch", device="auto"))
        assert backend.device == "cuda:0"
    else:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            load_model(Settings(model_dir=artifact_dir, backend="torch", device="cuda"))


def test_torch_backend_serves_over_http(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(backend="torch")
    response = server.client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    assert response.json()["model"]["backend"] == "torch"
    assert response.json()["predictions"][0]["label"] == "espresso"
    server.stop()
