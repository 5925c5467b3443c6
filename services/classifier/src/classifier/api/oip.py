"""Open Inference Protocol (KServe v2) REST routes.

Spec: https://github.com/kserve/open-inference-protocol (REST). Inputs: one ``image`` tensor of
datatype BYTES (base64-encoded JPEG/PNG/WebP, shape ``[N]``) or one ``input`` tensor of
datatype FP32, shape ``[N, 3, H, W]``, already preprocessed. Outputs: ``probabilities``
(FP32 ``[N, classes]``) and ``labels`` (BYTES ``[N, top_k]``).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, cast

import msgspec
import numpy as np
import numpy.typing as npt
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from classifier import __version__
from classifier.api.calls import http_call
from classifier.api.classify import DEFAULT_TOP_K, MAX_TOP_K, checked_top_k
from classifier.api.schemas import error_responses
from classifier.dataplane import Answer, DataPlane, Parsed
from classifier.errors import InvalidRequest, ModelNotFound
from classifier.inference import MAX_IMAGES_PER_REQUEST, EncodedImages, ImageClassifier, Inputs, TensorBatch
from classifier.runtime import Runtime

SERVER_NAME = "classifier"
IMAGE_INPUT = "image"
TENSOR_INPUT = "input"
OUTPUTS = ("probabilities", "labels")


class InferInput(msgspec.Struct):
    name: str
    shape: list[int]
    datatype: str
    data: msgspec.Raw  # decoded by datatype: strings for BYTES, numbers for FP32
    parameters: dict[str, Any] | None = None


class RequestedOutput(msgspec.Struct):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(msgspec.Struct):
    inputs: list[InferInput]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = None


class OutputTensor(msgspec.Struct):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferResponse(msgspec.Struct, omit_defaults=True):
    model_name: str
    model_version: str
    outputs: list[OutputTensor]
    id: str | None = None


@get("/v2", tags=["oip"], summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": []}


@get("/v2/health/live", tags=["oip"], summary="Liveness: the process is serving HTTP")
async def live() -> dict[str, bool]:
    return {"live": True}


@get("/v2/health/ready", tags=["oip"], summary="Readiness: model loaded and warmed up, not draining")
async def ready(runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
    if runtime.ready:
        return Response({"ready": True})
    reason = "draining" if runtime.draining else "model loading"
    return Response({"ready": False, "reason": reason}, status_code=503)


@get("/v2/models/{name:str}", tags=["oip"], summary="Model metadata", responses=error_responses(404, 503))
async def model_metadata(name: FromPath[str], runtime: NamedDependency[Runtime]) -> dict[str, Any]:
    model = runtime.model(name)
    channels, height, width = model.input_shape
    return {
        "name": name,
        "versions": [model.metadata.version],
        "platform": "onnxruntime_onnx" if model.backend.name == "onnxruntime" else "pytorch_torchscript",
        "inputs": [
            {"name": IMAGE_INPUT, "datatype": "BYTES", "shape": [-1]},
            {"name": TENSOR_INPUT, "datatype": "FP32", "shape": [-1, channels, height, width]},
        ],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(model.metadata.labels)]},
            {"name": "labels", "datatype": "BYTES", "shape": [-1, -1]},
        ],
    }


@get("/v2/models/{name:str}/ready", tags=["oip"], summary="Model readiness", responses=error_responses(404))
async def model_ready(name: FromPath[str], runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
    if name != runtime.served_model_name:
        raise ModelNotFound(f"no model named {name!r} is served here")
    return Response({"name": name, "ready": runtime.ready}, status_code=200 if runtime.ready else 503)


@post(
    "/v2/models/{name:str}/infer",
    status_code=200,
    tags=["oip"],
    summary="Inference (BYTES images or an FP32 [N,3,H,W] tensor)",
    responses=error_responses(400, 401, 403, 404, 408, 413, 429, 500, 503, 504),
)
async def infer(
    name: FromPath[str], request: Request[Any, Any, Any], dataplane: NamedDependency[DataPlane]
) -> InferResponse:
    answer = await dataplane.infer(http_call(request, dataplane, model_name=name, parse=_parse))
    document = cast(InferRequest, answer.document)
    return InferResponse(
        model_name=name,
        model_version=answer.model.metadata.version,
        id=document.id,
        outputs=[_output(output, answer) for output in _requested_outputs(document)],
    )


def _parse(body: bytes, model: ImageClassifier) -> Parsed:
    document = _decode_request(body)
    return Parsed(_inputs(document, model), _top_k(document), document)


def _decode_request(raw: bytes) -> InferRequest:
    try:
        document = msgspec.json.decode(raw, type=InferRequest)
    except msgspec.ValidationError as error:
        raise InvalidRequest(f"the inference request does not follow the protocol: {error}") from None
    except msgspec.DecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequest("the body's JSON is nested too deeply") from None
    _requested_outputs(document)  # unknown outputs are refused before any work
    return document


def _inputs(document: InferRequest, model: ImageClassifier) -> Inputs:
    if len(document.inputs) != 1:
        raise InvalidRequest(
            f"expected exactly one input ({IMAGE_INPUT!r} or {TENSOR_INPUT!r}), got {len(document.inputs)}"
        )
    tensor = document.inputs[0]
    if tensor.datatype == "BYTES":
        return EncodedImages(_images_from(tensor))
    if tensor.datatype == "FP32":
        return TensorBatch(_fp32_batch_from(tensor, model))
    raise InvalidRequest(f"input datatype must be BYTES or FP32, got {tensor.datatype!r}")


def _top_k(document: InferRequest) -> int:
    """``parameters.top_k``: a JSON integer, or a number without a fraction (5.0)."""
    value = (document.parameters or {}).get("top_k")
    if value is None:
        return DEFAULT_TOP_K
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"parameters.top_k must be an integer from 1 to {MAX_TOP_K}, got {value!r}")
    return checked_top_k(value)


def _requested_outputs(document: InferRequest) -> list[str]:
    if not document.outputs:
        return list(OUTPUTS)
    names = [output.name for output in document.outputs]
    unknown = sorted(set(names) - set(OUTPUTS))
    if unknown:
        raise InvalidRequest(f"unknown output(s) {unknown}; this model has {list(OUTPUTS)}")
    return names


def _decode_data(tensor: InferInput, kind: Any) -> Any:
    try:
        return msgspec.json.decode(tensor.data, type=kind)
    except msgspec.ValidationError as error:
        raise InvalidRequest(f"input {tensor.name!r} data: {error}") from None
    except RecursionError:
        raise InvalidRequest(f"input {tensor.name!r} data is nested too deeply") from None


def _images_from(tensor: InferInput) -> list[bytes]:
    if tensor.name != IMAGE_INPUT:
        raise InvalidRequest(f"a BYTES input must be named {IMAGE_INPUT!r}, got {tensor.name!r}")
    data: list[str] = _decode_data(tensor, list[str])
    if len(tensor.shape) != 1 or tensor.shape[0] != len(data):
        raise InvalidRequest(f"BYTES input shape must be [{len(data)}], got {tensor.shape}")
    if not 1 <= len(data) <= MAX_IMAGES_PER_REQUEST:
        raise InvalidRequest(f"send 1 to {MAX_IMAGES_PER_REQUEST} images, got {len(data)}")
    images = []
    for position, item in enumerate(data):
        try:
            images.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"image {position} is not valid base64") from None
    return images


def _fp32_batch_from(tensor: InferInput, model: ImageClassifier) -> npt.NDArray[np.float32]:
    """FP32 data in row-major order, flat or nested as deep as the shape; numbers only."""
    if tensor.name != TENSOR_INPUT:
        raise InvalidRequest(f"an FP32 input must be named {TENSOR_INPUT!r}, got {tensor.name!r}")
    image_shape = list(model.input_shape)
    shape = tensor.shape
    if len(shape) != 4 or shape[1:] != image_shape or not 1 <= shape[0] <= MAX_IMAGES_PER_REQUEST:
        raise InvalidRequest(
            f"FP32 input shape must be [N, {', '.join(map(str, image_shape))}] "
            f"with 1 <= N <= {MAX_IMAGES_PER_REQUEST}, got {shape}"
        )
    nested = bytes(tensor.data).lstrip()[1:].lstrip().startswith(b"[")  # [[...: nested
    kind = list[list[list[list[float]]]] if nested else list[float]
    try:
        values = np.asarray(_decode_data(tensor, kind), dtype=np.float32)
    except ValueError:  # nested lists of unequal lengths
        raise InvalidRequest(f"FP32 input data is ragged; the declared shape is {shape}") from None
    if values.size != math.prod(shape) or (nested and list(values.shape) != shape):
        raise InvalidRequest(f"FP32 input data has shape {list(values.shape)}; the declared shape is {shape}")
    if not np.isfinite(values).all():
        raise InvalidRequest("FP32 input data must be finite numbers")
    return values.reshape(shape)


def _output(name: str, answer: Answer) -> OutputTensor:
    probabilities = answer.probabilities
    if name == "probabilities":
        return OutputTensor(
            name=name, shape=list(probabilities.shape), datatype="FP32", data=probabilities.ravel().tolist()
        )
    labels = [[p.label for p in row] for row in answer.top_k]
    return OutputTensor(
        name=name,
        shape=[len(labels), len(labels[0])],
        datatype="BYTES",
        data=[label for row in labels for label in row],
    )


SERVER_ROUTES = [server_metadata, live, ready]
MODEL_ROUTES = [model_metadata, model_ready, infer]
