"""The pipeline behind the data plane: with a decode pool (the GPU default), a request that
fails or times out leaves nothing of its own decoding for the requests after it."""

from __future__ import annotations

import base64
import io
import time

from PIL import Image

from classifier_testkit.classify import classify
from classifier_testkit.server import StartServer

MODEL = "efficientnet-lite0"
SIDE = 4096  # the largest image the default pixel limit admits: ~0.25 s to decode here


def _flat_png() -> bytes:
    """A 4096x4096 PNG of one colour: ~60 KiB on the wire, a full decode on the server."""
    buffer = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE), (40, 120, 200)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _images_request(*images: bytes) -> dict[str, object]:
    data = [base64.b64encode(image).decode() for image in images]
    return {"inputs": [{"name": "image", "shape": [len(data)], "datatype": "BYTES", "data": data}]}


def _seconds_to_classify(server_client_post: object) -> float:
    started = time.monotonic()
    response = server_client_post()  # type: ignore[operator]
    assert response.status_code == 200, response.text
    return time.monotonic() - started


LEFTOVER_MARGIN_S = 1.0  # far below the ~3 s that twelve images left decoding would cost


def test_a_request_that_fails_fast_leaves_no_images_decoding_in_the_pool(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    """Image 0 is not an image: the request is answered 400 at once. Its 12 large images must
    not go on decoding (~3 s on one decode thread) ahead of the next request."""
    server = start_server(decode_stage="pool", decode_workers="1", queue_capacity="16")
    lone = _seconds_to_classify(lambda: classify(server, coffee_jpeg))
    bad_first = _images_request(b"not an image", *[_flat_png()] * 12)
    refused = server.client.post(f"/v2/models/{MODEL}/infer", json=bad_first)
    assert refused.status_code == 400
    after = _seconds_to_classify(lambda: classify(server, coffee_jpeg))
    # One image already decoding cannot be stopped (~0.25 s); the twelve would be ~3 s. A margin of
    # a second tells them apart on a busy machine (CI measured 0.63 s once with 0.5).
    assert after < lone + LEFTOVER_MARGIN_S, (
        f"the next request waited {after:.2f} s behind the failed one's images"
    )
    server.stop()


def test_a_request_decoding_past_its_deadline_gets_its_504_then_and_leaves_nothing_behind(
    start_server: StartServer, coffee_jpeg: bytes
) -> None:
    server = start_server(decode_stage="pool", decode_workers="1", queue_capacity="16")
    lone = _seconds_to_classify(lambda: classify(server, coffee_jpeg))
    started = time.monotonic()
    slow = server.client.post(
        f"/v2/models/{MODEL}/infer",
        json=_images_request(*[_flat_png()] * 12),
        headers={"x-request-timeout-ms": "400"},
    )
    assert slow.status_code == 504
    assert time.monotonic() - started < 0.4 + 0.6, "the 504 comes at the deadline, not after the decoding"
    after = _seconds_to_classify(lambda: classify(server, coffee_jpeg))
    assert after < lone + LEFTOVER_MARGIN_S, (
        f"the next request waited {after:.2f} s behind the expired one's images"
    )
    server.stop()
