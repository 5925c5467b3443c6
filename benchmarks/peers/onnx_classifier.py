"""The model as both peers run it: ONNX Runtime on CPU, preprocessing the usual way.

Pillow decodes, resizes (shorter side, the artifact's interpolation) and centre-crops, numpy
normalises: what a user of a general-purpose model server writes from the artifact's
metadata.json. One module for both peers, so that they differ only in their serving layer.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

TOP_K = 5
RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}

Prediction = dict[str, str | float]


class OnnxClassifier:
    """The artifact's fp32 ONNX graph and its preprocessing; top-5 labels with their scores."""

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        metadata = json.loads((model_dir / "metadata.json").read_text())
        spec = metadata["preprocessing"]
        self.labels: list[str] = metadata["labels"]
        self.input_name: str = metadata["input_name"]
        self.shorter_side: int = spec["resize_shorter_side"]
        self.crop: int = spec["crop_size"]
        self.resampling = RESAMPLING[spec["interpolation"]]
        mean, std = np.asarray(spec["mean"], np.float32), np.asarray(spec["std"], np.float32)
        # (x / 255 - mean) / std as one multiply and one add, per channel.
        self.multiplier = (1 / (255 * std))[:, None, None].astype(np.float32)
        self.offset = (-mean / std)[:, None, None].astype(np.float32)
        options = ort.SessionOptions()
        # One thread per inference: the servers run one model per core (see each peer's settings).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def preprocess(self, body: bytes) -> npt.NDArray[np.float32]:
        """JPEG bytes -> the model's [3, crop, crop] float32 input."""
        image = Image.open(io.BytesIO(body)).convert("RGB")
        scale = self.shorter_side / min(image.size)
        width, height = round(image.width * scale), round(image.height * scale)
        image = image.resize((width, height), self.resampling)
        left, top = (width - self.crop) // 2, (height - self.crop) // 2
        image = image.crop((left, top, left + self.crop, top + self.crop))
        planes = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)
        return planes * self.multiplier + self.offset

    def predict(self, batch: npt.NDArray[np.float32]) -> list[list[Prediction]]:
        """A [n, 3, crop, crop] batch -> for each image its top-5 labels, best first."""
        logits = self.session.run(None, {self.input_name: batch})[0]
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exponentials / exponentials.sum(axis=1, keepdims=True)
        best = np.argsort(-probabilities, axis=1)[:, :TOP_K]
        return [
            [{"label": self.labels[i], "score": float(row[i])} for i in indices]
            for row, indices in zip(probabilities, best, strict=True)
        ]
