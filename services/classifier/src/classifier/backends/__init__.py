"""Inference backends behind one small interface; `load_backend` picks one by name."""

from __future__ import annotations

import os

from classifier.artifact import ONNX_FILE, TORCHSCRIPT_FILE, ModelArtifact, load_artifact
from classifier.backends.base import InferenceBackend
from classifier.config import Settings

__all__ = ["InferenceBackend", "load_backend", "load_model"]


def load_model(settings: Settings) -> tuple[ModelArtifact, InferenceBackend]:
    """Load the artifact named by the settings into the configured backend."""
    threads = settings.inference_threads or os.cpu_count() or 1
    if settings.backend == "torch":
        from classifier.backends.torch_backend import TorchBackend

        artifact = load_artifact(settings.model_dir, verify=TORCHSCRIPT_FILE)
        return artifact, TorchBackend(artifact, device=settings.device, threads=threads)
    from classifier.backends.onnxruntime_backend import OnnxRuntimeBackend

    artifact = load_artifact(settings.model_dir, verify=ONNX_FILE)
    return artifact, OnnxRuntimeBackend(artifact, threads=threads)
