"""The naive baseline: the same model served the tutorial way, for comparison only.

FastAPI + uvicorn, eager torch (timm model with the same weights), torchvision transforms,
one image per call, inference inside the request handler, no batching. This is what the
benchmark's "4x the naive baseline" target is measured against; it is not part of the service.

    PORT=8001 .venv/bin/python benchmarks/naive_fastapi_app.py
"""

from __future__ import annotations

import io
import os

import torch
import uvicorn
from fastapi import FastAPI, Request
from PIL import Image
from torchvision import transforms

from classifier_modelbuild.cli import imagenet_labels
from classifier_modelbuild.variants import VARIANTS
from classifier_modelbuild.weights import build_torch_model

app = FastAPI()
model = build_torch_model(VARIANTS["lite0"])
labels = imagenet_labels()
transform = transforms.Compose(
    [
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    ]
)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/classify")
async def classify(request: Request) -> dict[str, object]:
    image = Image.open(io.BytesIO(await request.body())).convert("RGB")
    batch = transform(image).unsqueeze(0)
    with torch.no_grad():
        probabilities = torch.softmax(model(batch), dim=1)[0]
    scores, indices = probabilities.topk(5)
    return {
        "predictions": [
            {"label": labels[i], "index": int(i), "score": float(s)}
            for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
        ]
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8001")), log_level="warning")
