"""Property-based fuzzing of the whole request path through one real server process.

Hypothesis drives random and byte-mutated JPEG/PNG/WebP images, random headers, multipart
bodies and Open Inference Protocol documents at `python -m classifier` and holds it to:
no 5xx (a 504 only for a request that set its own deadline), every error a JSON
`{"error": "<text>"}`, a known-good JPEG still classified every few examples, and bounded
resident memory at the end. Derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from classifier_testkit.server import ServerProcess, StartServer

# Per kind of request: about 50 s in all on a busy two-core machine (an OIP example carries up
# to a whole FP32 tensor, several times the cost of an image one).
MAX_EXAMPLES = {"image": 2500, "multipart": 1500, "oip": 600}
CHECK_EVERY = 20  # examples between two known-good requests
RSS_LIMIT_BYTES = 1.5 * 2**30
TIMEOUT_HEADER = "x-request-timeout-ms"

_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_FORMAT_MODES = {
    "JPEG": ["RGB", "L", "CMYK"],
    "PNG": ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"],
    "WEBP": ["RGB", "RGBA"],
}
_CHARSETS = ["utf-8", "latin-1", "utf-16", "ascii", "utf-8-sig", "nonsense-42", "rot13", "base64", "idna", ""]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # the falsifying example, readable
        shown = self.content[:160] + (b"..." if len(self.content) > 160 else b"")
        return (
            f"_Request({self.method} {self.path} params={self.params} headers={self.headers} "
            f"content[{len(self.content)}]={shown!r})"
        )


# ------------------------------------------------------------------ images


def _mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` three times in four: most requests get past validation to the decoder."""
    return st.one_of(usual, usual, usual, odd)


def _encode(
    pixels: np.ndarray[Any, np.dtype[np.uint8]], image_format: str, mode: str, **options: Any
) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, image_format, **options)
    return buffer.getvalue()


def _known_good_jpeg() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    return _encode(pixels, "JPEG", "RGB", quality=90)


@st.composite
def _valid_images(draw: st.DrawFn) -> bytes:
    """A small JPEG, PNG or WebP of random pixels, in any mode its format can hold."""
    image_format = draw(st.sampled_from(sorted(_FORMAT_MODES)))
    mode = draw(st.sampled_from(_FORMAT_MODES[image_format]))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    options: dict[str, Any] = {}
    if image_format == "JPEG":
        options = {"quality": draw(st.integers(1, 100)), "progressive": draw(st.booleans())}
    elif image_format == "WEBP":
        options = {"lossless": draw(st.booleans()), "quality": draw(st.integers(0, 100))}
    return _encode(pixels, image_format, mode, **options)


@st.composite
def _mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` as it is, truncated, with bytes flipped, inserted or a header overwritten."""
    how = draw(st.sampled_from(["as-is"] * 4 + ["truncate", "flip", "insert", "overwrite-head", "append"]))
    if not data:
        return data
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "flip":
        mutable = bytearray(data)
        for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            mutable[position] ^= draw(st.integers(1, 255))
        return bytes(mutable)
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    if how == "overwrite-head":
        head = draw(st.binary(min_size=1, max_size=32))
        return head + data[len(head) :]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    return data


_IMAGE_BYTES = _valid_images().flatmap(_mutated)
_BODIES = _mostly(_IMAGE_BYTES, st.binary(max_size=512))


# ------------------------------------------------------------------ /v1/classify


_CONTENT_TYPES = _mostly(
    st.sampled_from(["image/jpeg", "image/png", "image/webp"]),
    st.none()
    | st.sampled_from(
        [
            "IMAGE/JPEG",
            "image/png; charset=binary",
            "image/webp ;q=1",
            "application/octet-stream",
            "text/plain",
            "application/json",
            "image/gif",
            "multipart/form-data",
            "",
        ]
    )
    | st.text(_ASCII, max_size=40).map(str.strip),  # h11 refuses surrounding whitespace
)
_TIMEOUTS = _mostly(
    st.none() | st.sampled_from(["5000", "1000"]),
    st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e309", "abc", "", "0x10", "1_000", "0.001"])
    | st.integers(-10, 10**7).map(str)
    | st.floats().map(repr),
)
_TOP_KS = _mostly(
    st.none() | st.integers(1, 20).map(str),
    st.integers(-3, 25).map(str)
    | st.sampled_from(["5.0", "abc", "", "1e1", " 3", "\u0663", "99999999999999999999"])
    | st.text(max_size=6),
)


@st.composite
def _image_requests(draw: st.DrawFn) -> _Request:
    headers: dict[str, str] = {}
    content_type = draw(_CONTENT_TYPES)
    if content_type is not None:
        headers["content-type"] = content_type
    timeout = draw(_TIMEOUTS)
    if timeout is not None:
        headers[TIMEOUT_HEADER] = timeout
    top_k = draw(_TOP_KS)
    params = {} if top_k is None else {"top_k": top_k}
    return _Request("POST", "/v1/classify", headers, draw(_BODIES), params)


# ------------------------------------------------------------------ multipart


def _file_part(image: bytes) -> bytes:
    """The part a browser or `curl -F file=@photo.jpg` sends."""
    return b'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n' + (
        b"Content-Type: image/jpeg\r\n\r\n" + image
    )


@st.composite
def _odd_parts(draw: st.DrawFn) -> bytes:
    """Any part: random name, filename, content type and charset, transfer encoding, content."""
    name = draw(
        _mostly(
            st.sampled_from(["file", "note"]), st.sampled_from(["", "FILE"]) | st.text(_ASCII, max_size=10)
        )
    )
    disposition = f'Content-Disposition: form-data; name="{name}"'
    filename = draw(
        st.none() | st.sampled_from(["a.jpg", "", "../../x.png", 'q"uote.webp']) | st.text(max_size=12)
    )
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [disposition.encode("utf-8", "surrogatepass")]
    content_type = draw(
        st.none()
        | st.sampled_from(["image/jpeg", "image/png", "application/octet-stream"])
        | st.sampled_from(_CHARSETS).map(lambda charset: f"text/plain; charset={charset}")
    )
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}".encode())
    if draw(st.integers(0, 3)) == 0:
        lines.append(b"Content-Transfer-Encoding: " + draw(st.sampled_from([b"base64", b"binary", b"8bit"])))
    content = draw(
        st.one_of(
            _IMAGE_BYTES,
            st.binary(max_size=256),
            st.tuples(st.text(max_size=32), st.sampled_from(["utf-8", "latin-1", "utf-16"])).map(
                lambda pair: pair[0].encode(pair[1], "replace")
            ),
        )
    )
    return b"\r\n".join(lines) + b"\r\n\r\n" + content


@st.composite
def _multipart_requests(draw: st.DrawFn) -> _Request:
    boundary = draw(st.sampled_from(["fuzz-boundary", "a", "----WebKitFormBoundary7MA4YWxkTrZu0gW"]))
    parts = draw(st.lists(_odd_parts(), max_size=3))
    if draw(st.integers(0, 3)) > 0:  # usually a proper `file` part too, somewhere
        parts.insert(draw(st.integers(0, len(parts))), _file_part(draw(_IMAGE_BYTES)))
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    if draw(st.integers(0, 3)) == 0:
        body = draw(_mutated(body))
    content_type = draw(
        _mostly(
            st.just(f"multipart/form-data; boundary={boundary}"),
            st.sampled_from(
                [
                    f'multipart/form-data; boundary="{boundary}"',
                    f"multipart/form-data; charset=nonsense-42; boundary={boundary}",
                    "multipart/form-data",
                    "multipart/form-data; boundary=",
                    "multipart/mixed; boundary=" + boundary,
                ]
            ),
        )
    )
    headers = {"content-type": content_type}
    timeout = draw(_TIMEOUTS)
    if timeout is not None:
        headers[TIMEOUT_HEADER] = timeout
    top_k = draw(_TOP_KS)
    return _Request("POST", "/v1/classify", headers, body, {} if top_k is None else {"top_k": top_k})


# ------------------------------------------------------------------ Open Inference Protocol

_TENSOR_VALUES = 3 * 224 * 224  # one preprocessed lite0 image: [1, 3, 224, 224]


def _deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def _bytes_tensors(draw: st.DrawFn) -> dict[str, Any]:
    images = draw(st.lists(_mostly(_valid_images(), _IMAGE_BYTES), min_size=1, max_size=3))
    data = [base64.b64encode(image).decode() for image in images]
    return {"name": "image", "datatype": "BYTES", "shape": [len(data)], "data": data}


@st.composite
def _fp32_tensors(draw: st.DrawFn) -> dict[str, Any]:
    value = draw(_mostly(st.floats(-3, 3), st.sampled_from([0, 1, "1.5", None, True, 1e39])))
    return {
        "name": "input",
        "datatype": "FP32",
        "shape": [1, 3, 224, 224],
        "data": [value] * _TENSOR_VALUES,
    }


_ODD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["image", "input", "images", ""]) | st.text(max_size=6),
    "datatype": st.sampled_from(["BYTES", "FP32", "INT8", "FP16", "fp32", "UINT8"]) | st.text(max_size=5),
    "shape": st.sampled_from([[1], [2], [0], [-1], [2**63], [1, 3, 224, 225], [1, 3, 224]])
    | st.lists(st.integers(-2, 300), max_size=5)
    | _JSON,
    "data": st.lists(st.floats(allow_nan=False) | st.integers(-(2**70), 2**70), max_size=16)
    | st.lists(st.text(max_size=12), max_size=4)
    | st.recursive(st.floats(-1, 1), lambda inner: st.lists(inner, min_size=1, max_size=3), max_leaves=12)
    | _JSON,
    "parameters": _JSON,
}


@st.composite
def _tensors(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed BYTES or FP32 tensor with up to two fields replaced or dropped."""
    tensor: dict[str, Any] = draw(_mostly(_bytes_tensors(), _fp32_tensors()))
    odd_keys = st.lists(st.sampled_from(sorted(_ODD_FIELDS)), min_size=1, max_size=2, unique=True)
    for key in draw(st.just([]) | st.just([]) | odd_keys):
        if draw(st.integers(0, 3)) == 0:
            tensor.pop(key, None)
        else:
            tensor[key] = draw(_ODD_FIELDS[key])
    return tensor


@st.composite
def _oip_documents(draw: st.DrawFn) -> bytes:
    shape = draw(st.sampled_from(["protocol"] * 6 + ["json", "nested", "junk"]))
    if shape == "nested":  # deeper than any recursion limit, in `data` or at the top
        depth = draw(st.sampled_from([1_000, 10_000, 100_000]) | st.integers(1, 200_000))
        if draw(st.booleans()):
            return _deeply_nested(depth).encode()
        inner = '{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": %s}'
        return ('{"inputs": [' + inner % _deeply_nested(depth) + "]}").encode()
    if shape == "junk":
        return draw(st.binary(max_size=256))
    if shape == "json":
        return json.dumps(draw(_JSON)).encode()
    document: dict[str, Any] = {
        "inputs": draw(
            _mostly(st.lists(_tensors(), min_size=1, max_size=1), st.lists(_tensors(), max_size=3) | _JSON)
        )
    }
    if draw(st.booleans()):
        top_k = _mostly(st.integers(1, 20), _JSON | st.integers(-3, 25) | st.floats(0, 30))
        document["parameters"] = draw(_mostly(st.fixed_dictionaries({"top_k": top_k}), _JSON))
    if draw(st.booleans()):
        names = st.sampled_from(["labels", "probabilities", "logits", ""])
        document["outputs"] = draw(st.lists(st.fixed_dictionaries({"name": names}), max_size=3) | _JSON)
    if draw(st.booleans()):
        document["id"] = draw(_JSON)
    encoded = json.dumps(document).encode()
    return draw(_mutated(encoded)) if draw(st.integers(0, 4)) == 0 else encoded


def _oip_requests(model_name: str) -> st.SearchStrategy[_Request]:
    @st.composite
    def build(draw: st.DrawFn) -> _Request:
        name = draw(st.sampled_from([model_name] * 7 + ["not-a-model", "", model_name.upper()]))
        content_type = draw(
            _mostly(
                st.just("application/json"),
                st.sampled_from(["application/json; charset=utf-8", "text/plain", ""]),
            )
        )
        headers = {"content-type": content_type}
        timeout = draw(_TIMEOUTS)
        if timeout is not None:
            headers[TIMEOUT_HEADER] = timeout
        return _Request("POST", f"/v2/models/{name}/infer", headers, draw(_oip_documents()))

    return build()


# ------------------------------------------------------------------ the properties


def _check_answer(request: _Request, response: httpx.Response) -> None:
    """No 5xx (504 only for a client-set deadline); every error is JSON with a non-empty "error"."""
    allowed_5xx = {504} if TIMEOUT_HEADER in request.headers else set()
    assert response.status_code < 500 or response.status_code in allowed_5xx, (
        f"{response.status_code} {response.text[:300]} for {request!r}"
    )
    if response.status_code >= 400:
        document = response.json()
        assert isinstance(document, dict), document
        assert isinstance(document.get("error"), str), document
        assert document["error"], document


# One Hypothesis run per kind of request: a run stops at its first failure, so a 500 from a
# multipart body must not hide one from an OIP document.
_REQUESTS: dict[str, Callable[[str], st.SearchStrategy[_Request]]] = {
    "image": lambda _model_name: _image_requests(),
    "multipart": lambda _model_name: _multipart_requests(),
    "oip": _oip_requests,
}


@pytest.fixture(scope="module")
def fuzz_server(start_server: StartServer) -> ServerProcess:
    """Default settings; a small pixel limit so a mutated header cannot ask for a big decode."""
    return start_server(max_image_pixels="1000000")


@pytest.fixture(scope="module")
def device_decode_server(start_server: StartServer) -> ServerProcess:
    """JPEGs decoded on the torch backend's device: here the CPU, so TorchCodec's libjpeg-turbo,
    not nvJPEG (`make bench-gpu` sends broken JPEGs to a GPU)."""
    return start_server(max_image_pixels="1000000", backend="torch", device="cpu", decode_stage="device")


@pytest.mark.parametrize("kind", sorted(_REQUESTS))
def test_fuzzed_requests_get_no_5xx_only_json_errors_and_leave_the_server_healthy(
    fuzz_server: ServerProcess, kind: str
) -> None:
    _fuzz(fuzz_server, kind)


def test_fuzzed_images_decoded_on_the_device_get_no_5xx_either(device_decode_server: ServerProcess) -> None:
    """Mutated JPEGs reach TorchCodec's decoder and the fallback (device_decode.py, workers.py)."""
    _fuzz(device_decode_server, "image")


def _fuzz(fuzz_server: ServerProcess, kind: str) -> None:
    known_good = _known_good_jpeg()
    client = httpx.Client(base_url=fuzz_server.base_url, timeout=30)

    def classifies() -> httpx.Response:
        response = client.post("/v1/classify", content=known_good, headers={"content-type": "image/jpeg"})
        assert response.status_code == 200, f"a known-good JPEG got {response.status_code}: {response.text}"
        return response

    model_name = classifies().json()["model"]["name"]
    sent = 0

    @settings(
        max_examples=MAX_EXAMPLES[kind],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(request=_REQUESTS[kind](model_name))
    def fuzz(request: _Request) -> None:
        nonlocal sent
        response = client.request(
            request.method,
            request.path,
            headers=request.headers,
            content=request.content,
            params=request.params,
        )
        event(f"status {response.status_code}")  # see --hypothesis-show-statistics
        _check_answer(request, response)
        sent += 1
        if sent % CHECK_EVERY == 0:
            classifies()

    try:
        fuzz()
        classifies()
        rss = psutil.Process(fuzz_server.process.pid).memory_info().rss
        assert rss < RSS_LIMIT_BYTES, f"the server's resident memory grew to {rss / 2**20:.0f} MiB"
    finally:
        client.close()
