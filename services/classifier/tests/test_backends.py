"""Every backend loads its artifact and gives the right, and the same, answers on real photos;
the backend follows the artifact (auto), and a backend that cannot read the artifact is refused."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from classifier.artifact import ArtifactError
from classifier.backends import check_artifact, chosen_backend, load_model
from classifier.config import Settings
from classifier.decode import decode_image
from classifier.preprocess import preprocess
from classifier_modelbuild.parity import top5
from classifier_testkit import photos
from classifier_testkit.artifacts import int8_artifact
from classifier_testkit.server import StartServer

PHOTOS = ("coffee", "chelsea", "rocket", "astronaut")


@pytest.fixture(scope="module")
def batch(artifact_dir: Path) -> np.ndarray:
    artifact, _ = load_model(Settings(model_dir=artifact_dir))
    spec = artifact.metadata.preprocessing
    return np.stack([preprocess(decode_image(photos.encode(n), max_pixels=10**8), spec) for n in PHOTOS])


@pytest.fixture(scope="module", params=["onnxruntime", "torch", "openvino"])
def logits(request: pytest.FixtureRequest, artifact_dir: Path, batch: np.ndarray) -> np.ndarray:
    model_dir = int8_artifact() if request.param == "openvino" else artifact_dir
    _, backend = load_model(Settings(model_dir=model_dir, backend=request.param, inference_threads=2))
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


def test_the_int8_execution_keeps_float32s_top1_on_the_photos(artifact_dir: Path, batch: np.ndarray) -> None:
    _, float32 = load_model(Settings(model_dir=artifact_dir, inference_threads=2))
    _, int8 = load_model(Settings(model_dir=int8_artifact(), inference_threads=2))
    assert int8.name == "openvino"
    reference, quantized = float32.predict(batch), int8.predict(batch)
    assert list(reference.argmax(axis=1)) == list(quantized.argmax(axis=1))
    assert not np.allclose(reference, quantized, atol=1e-3)  # it is another execution, not a copy


@pytest.mark.parametrize(("int8", "backend"), [(False, "auto"), (True, "auto"), (False, "torch")])
def test_auto_picks_the_artifacts_runtime(artifact_dir: Path, int8: bool, backend: str) -> None:
    model_dir = int8_artifact() if int8 else artifact_dir
    settings = Settings(model_dir=model_dir, backend=backend)  # type: ignore[arg-type]
    _, chosen = check_artifact(settings)
    assert chosen == ("openvino" if int8 else "onnxruntime" if backend == "auto" else backend)
    assert chosen_backend(settings) == chosen


@pytest.mark.parametrize(
    ("int8", "backend", "message"),
    [
        (True, "onnxruntime", "CLASSIFIER_BACKEND=onnxruntime: .* has no model.onnx: it is an artifact "
         r"for openvino \(int8\); .* leave CLASSIFIER_BACKEND at auto"),
        (True, "torch", "CLASSIFIER_BACKEND=torch: .* has no model.torchscript.pt"),
        (False, "openvino", "CLASSIFIER_BACKEND=openvino: .* has no model.xml: it is an artifact "
         "for onnxruntime$"),
    ],
)  # fmt: skip
def test_a_backend_that_cannot_read_the_artifact_is_refused(
    artifact_dir: Path, int8: bool, backend: str, message: str
) -> None:
    model_dir = int8_artifact() if int8 else artifact_dir
    with pytest.raises(ArtifactError, match=message):
        check_artifact(Settings(model_dir=model_dir, backend=backend))  # type: ignore[arg-type]


@pytest.mark.parametrize("int8", [False, True])
def test_batch_answers_equal_single_answers(artifact_dir: Path, batch: np.ndarray, int8: bool) -> None:
    model_dir = int8_artifact() if int8 else artifact_dir
    _, backend = load_model(Settings(model_dir=model_dir, inference_threads=2))
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


def test_the_int8_artifact_serves_over_http_as_its_own_version(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    server = start_server(model_dir=str(int8_artifact()))
    response = server.client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    model = response.json()["model"]
    assert (model["name"], model["version"], model["backend"]) == ("efficientnet-lite0", "1+int8", "openvino")
    assert response.json()["predictions"][0]["label"] == "espresso"
    assert 'version="1+int8"' in server.client.get("/metrics").text
    server.stop()


def test_the_int8_artifact_batches_queued_images_by_default(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    """OpenVINO's CPU default is batch 8 (tuning.CPU_BATCH): images queued together run as one
    call, and each still gets its own answer."""
    server = start_server(model_dir=str(int8_artifact()), inference_workers="1")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _classify(server.client, coffee_jpeg), range(48)))
    assert {answer["predictions"][0]["label"] for answer in answers} == {"espresso"}
    calls, images = _batch_size_count_and_sum(server.client.get("/metrics").text)
    assert images == 48
    assert calls < 48, f"{calls} model calls for 48 concurrent images: nothing was batched"
    server.stop()


def _classify(client: httpx.Client, body: bytes) -> dict[str, Any]:
    response = client.post("/v1/classify", content=body, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _batch_size_count_and_sum(metrics_text: str) -> tuple[float, float]:
    values = {
        line.split()[0].split("{")[0]: float(line.split()[-1])
        for line in metrics_text.splitlines()
        if line.startswith(("classifier_batch_size_count", "classifier_batch_size_sum"))
    }
    return values["classifier_batch_size_count"], values["classifier_batch_size_sum"]


def test_torch_backend_serves_over_http(start_server: StartServer, coffee_jpeg: bytes) -> None:
    server = start_server(backend="torch")
    response = server.client.post("/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"})
    assert response.json()["model"]["backend"] == "torch"
    assert response.json()["predictions"][0]["label"] == "espresso"
    server.stop()


@pytest.mark.parametrize("int8", [False, True])
def test_callers_at_once_each_get_their_own_answers(
    artifact_dir: Path, batch: np.ndarray, int8: bool
) -> None:
    """The inference workers call the backend at once, more of them than it has compiled models
    here (two), so calls also wait for one to come back."""
    model_dir = int8_artifact() if int8 else artifact_dir
    _, backend = load_model(Settings(model_dir=model_dir), threads=1, callers=2)
    rows = [batch[i : i + 1] for i in range(len(batch))]
    expected = [backend.predict(row) for row in rows]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: backend.predict(rows[i % len(rows)]), range(64)))
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, expected[i % len(rows)])
