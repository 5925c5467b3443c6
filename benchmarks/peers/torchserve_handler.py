"""TorchServe custom handler: the model's ONNX graph on ONNX Runtime, one thread per worker.

TorchServe's Java frontend takes the HTTP requests, queues them per model and hands them to
Python worker processes; this handler is what each worker runs. The worker and batch settings
are in torchserve_model_config.yaml (archived with the model by benchmarks/compare_servers.py):
  * 2 workers, one ONNX Runtime intra-op thread each: one process per core, the GIL not shared,
    and no worker's threads contending with the other's.
  * batch size 1: a single-threaded worker gains little from batching this convnet on CPU, and
    TorchServe's batch delay would only add to every request's latency at low load.

A plain class rather than TorchServe's BaseHandler: BaseHandler loads torch models, and the
request and response handling here is all that an ONNX model needs. Runs in .venv-peers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from onnx_classifier import OnnxClassifier, Prediction


class ClassifierHandler:
    """TorchServe calls `initialize` once per worker, then `handle` with each batch of requests."""

    def initialize(self, context: Any) -> None:
        # The archive's files (model.onnx, metadata.json, onnx_classifier.py) are unpacked here.
        self.model = OnnxClassifier(Path(context.system_properties["model_dir"]), threads=1)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[dict[str, list[Prediction]]]:
        # A raw request body arrives as "body" (or "data"), a bytearray.
        bodies = [bytes(row.get("data") or row.get("body") or b"") for row in data]
        batch = np.stack([self.model.preprocess(body) for body in bodies])
        return [{"predictions": predictions} for predictions in self.model.predict(batch)]
