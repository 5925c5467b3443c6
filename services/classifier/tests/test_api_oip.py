"""Open Inference Protocol (KServe v2) routes against a real server."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from classifier.artifact import load_artifact
from classifier.preprocess import preprocess
from classifier_testkit import photos
from classifier_testkit.server import ServerProcess

MODEL = "efficientnet-lite0"


def infer(server: ServerProcess, body: dict[str, Any], model: str = MODEL) -> Any:
    return server.client.post(f"/v2/models/{model}/infer", json=body)


def image_request(*images: bytes, **extra: Any) -> dict[str, Any]:
    data = [base64.b64encode(image).decode() for image in images]
    return {"inputs": [{"name": "image", "shape": [len(data)], "datatype": "BYTES", "data": data}]} | extra


def test_server_metadata_and_health(server: ServerProcess) -> None:
    assert server.client.get("/v2").json() == {"name": "classifier", "version": "0.1.0", "extensions": []}
    assert server.client.get("/v2/health/live").status_code == 200
    ready = server.client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()["ready"]) == (200, True)


def test_model_metadata_describes_inputs_and_outputs(server: ServerProcess) -> None:
    body = server.client.get(f"/v2/models/{MODEL}").json()
    assert body["name"] == MODEL
    assert body["versions"] == ["1"]
    assert body["platform"] == "onnxruntime_onnx"
    assert {"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]} in body["inputs"]
    assert {"name": "image", "datatype": "BYTES", "shape": [-1]} in body["inputs"]
    assert {"name": "probabilities", "datatype": "FP32", "shape": [-1, 1000]} in body["outputs"]


def test_model_ready(server: ServerProcess) -> None:
    response = server.client.get(f"/v2/models/{MODEL}/ready")
    assert (response.status_code, response.json()) == (200, {"name": MODEL, "ready": True})


@pytest.mark.parametrize("path", ["/v2/models/resnet50", "/v2/models/resnet50/ready"])
def test_unknown_model_is_404(server: ServerProcess, path: str) -> None:
    response = server.client.get(path)
    assert response.status_code == 404
    assert "resnet50" in response.json()["error"]


def test_unknown_model_infer_is_404(server: ServerProcess, coffee_jpeg: bytes) -> None:
    response = infer(server, image_request(coffee_jpeg), model="resnet50")
    assert response.status_code == 404


def test_bytes_input_batch_answers_per_protocol(
    server: ServerProcess, coffee_jpeg: bytes, chelsea_jpeg: bytes
) -> None:
    response = infer(server, image_request(coffee_jpeg, chelsea_jpeg, id="req-7", parameters={"top_k": 3}))
    assert response.status_code == 200
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (MODEL, "1", "req-7")
    outputs = {output["name"]: output for output in body["outputs"]}
    probabilities = outputs["probabilities"]
    assert (probabilities["datatype"], probabilities["shape"]) == ("FP32", [2, 1000])
    matrix = np.asarray(probabilities["data"]).reshape(2, 1000)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-4)
    assert int(matrix[0].argmax()) == 967
    labels = outputs["labels"]
    assert (labels["datatype"], labels["shape"]) == ("BYTES", [2, 3])
    assert labels["data"][0] == "espresso"
    assert labels["data"][3] in photos.EXPECTED_TOP1["chelsea"]


def test_requested_outputs_only(server: ServerProcess, coffee_jpeg: bytes) -> None:
    body = infer(server, image_request(coffee_jpeg, outputs=[{"name": "labels"}])).json()
    assert [output["name"] for output in body["outputs"]] == ["labels"]


def test_fp32_tensor_input_matches_bytes_input(server: ServerProcess, artifact_dir: Any) -> None:
    spec = load_artifact(artifact_dir).metadata.preprocessing
    tensor = preprocess(np.asarray(photos.photo("coffee")), spec)[None]
    request = {
        "inputs": [
            {
                "name": "input",
                "shape": list(tensor.shape),
                "datatype": "FP32",
                "data": tensor.ravel().tolist(),
            }
        ]
    }
    response = infer(server, request)
    assert response.status_code == 200
    labels = next(o for o in response.json()["outputs"] if o["name"] == "labels")
    assert labels["data"][0] == "espresso"


@pytest.mark.parametrize(
    ("case", "request_body"),
    [
        (
            "wrong shape",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}
                ]
            },
        ),
        (
            "shape and data disagree",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [0.0] * 10}
                ]
            },
        ),
        (
            "wrong datatype",
            {"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "INT64", "data": [0]}]},
        ),
        (
            "strings in FP32",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": ["x"] * 150528}
                ]
            },
        ),
        (
            "ragged nested FP32",
            {
                "inputs": [
                    {
                        "name": "input",
                        "shape": [1, 3, 224, 224],
                        "datatype": "FP32",
                        "data": [[[[0.0] * 224] * 224] * 2 + [[[0.0] * 3]]],
                    }
                ]
            },
        ),
        ("no inputs", {"inputs": []}),
        ("missing inputs", {"id": "x"}),
        ("bad base64", {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["***"]}]}),
        (
            "bytes shape mismatch",
            {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": ["AAAA"]}]},
        ),
        (
            "base64 of garbage",
            {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["aGVsbG8gd29ybGQ="]}]},
        ),
        (
            "unknown output",
            {
                "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["AAAA"]}],
                "outputs": [{"name": "embedding"}],
            },
        ),
        (
            "bad top_k",
            {
                "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["AAAA"]}],
                "parameters": {"top_k": 99},
            },
        ),
    ],
)
def test_bad_inference_requests_return_400_and_server_keeps_serving(
    server: ServerProcess, coffee_jpeg: bytes, case: str, request_body: dict[str, Any]
) -> None:
    response = infer(server, request_body)
    assert response.status_code == 400, case
    assert response.json()["error"], case
    assert infer(server, image_request(coffee_jpeg)).status_code == 200


def test_body_that_is_not_json_is_400(server: ServerProcess) -> None:
    response = server.client.post(
        f"/v2/models/{MODEL}/infer", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "the body is not valid JSON"}
