"""Realistic traffic for the classifier: a mix of photo sizes and formats, mostly the /v1 API,
some Open Inference Protocol calls. Point it at a local service or a cluster URL with --host;
set CLASSIFIER_TOKEN when the service requires a bearer token.
"""

from __future__ import annotations

import base64
import io
import os
import random

from locust import HttpUser, between, task
from PIL import Image

from classifier_testkit import photos


def _jpeg(name: str, width: int | None = None, quality: int = 90) -> bytes:
    image = photos.photo(name)
    if width:
        image = image.resize((width, round(image.height * width / image.width)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _png(name: str) -> bytes:
    buffer = io.BytesIO()
    photos.photo(name).save(buffer, "PNG")
    return buffer.getvalue()


# (weight, content type, body): phone uploads resized by the app, a few originals, some PNG.
MIX: list[tuple[int, str, bytes]] = [
    (30, "image/jpeg", _jpeg("coffee")),
    (20, "image/jpeg", _jpeg("chelsea", quality=80)),
    (15, "image/jpeg", _jpeg("rocket")),
    (10, "image/jpeg", _jpeg("astronaut", width=1024)),
    (10, "image/png", _png("chelsea")),
    (10, "image/jpeg", _jpeg("coffee", width=1920)),
    (5, "image/jpeg", _jpeg("chelsea", width=4032)),
]
_WEIGHTS = [weight for weight, _, _ in MIX]
_AUTH = (
    {"authorization": f"Bearer {os.environ['CLASSIFIER_TOKEN']}"}
    if os.environ.get("CLASSIFIER_TOKEN")
    else {}
)
_ = Image  # Pillow encodes the bodies above


class ClassifierUser(HttpUser):
    wait_time = between(0.5, 1.5)

    @task(9)
    def classify(self) -> None:
        _, content_type, body = random.choices(MIX, weights=_WEIGHTS)[0]
        self.client.post(
            "/v1/classify?top_k=5",
            data=body,
            headers={"content-type": content_type, **_AUTH},
            name="/v1/classify",
        )

    @task(1)
    def infer_oip(self) -> None:
        _, _, body = random.choices(MIX[:4], weights=_WEIGHTS[:4])[0]
        payload = {
            "inputs": [
                {
                    "name": "image",
                    "shape": [1],
                    "datatype": "BYTES",
                    "data": [base64.b64encode(body).decode()],
                }
            ]
        }
        with self.client.get(
            "/v2/models/efficientnet-lite0/ready", headers=_AUTH, catch_response=True
        ) as ready:
            model = "efficientnet-lite0" if ready.status_code == 200 else "classifier"
            ready.success()
        self.client.post(
            f"/v2/models/{model}/infer", json=payload, headers=_AUTH, name="/v2/models/{name}/infer"
        )
