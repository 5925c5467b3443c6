"""Inference backends behind one small interface; `load_model` picks one by name."""

from __future__ import annotations

from classifier.artifact import ONNX_FILE, TORCHSCRIPT_FILE, ModelArtifact, load_artifact
from classifier.backends.base import InferenceBackend
from classifier.config import Settings

__all__ = ["InferenceBackend", "load_model", "uses_accelerator"]


def uses_accelerator(settings: Settings) -> bool:
    """Whether the configured backend will run on a GPU (decides the batching defaults)."""
    if settings.backend != "torch" or settings.device == "cpu":
        return False
    import torch

    return settings.device == "cuda" or torch.cuda.is_available()


def load_model(
    settings: Settings, *, threads: int = 1, alone_threads: int | None = None
) -> tuple[ModelArtifact, InferenceBackend]:
    """Load the artifact named by the settings into the configured backend.

    ``threads`` per model call when calls run side by side; ``alone_threads`` for a call
    that runs by itself (defaults to ``threads``).
    """
    if settings.backend == "torch":
        from classifier.backends.torch_backend import TorchBackend

        artifact = load_artifact(settings.model_dir, verify=TORCHSCRIPT_FILE)
        return artifact, TorchBackend(artifact, device=settings.device, threads=threads)
    from classifier.backends.onnxruntime_backend import OnnxRuntimeBackend

    artifact = load_artifact(settings.model_dir, verify=ONNX_FILE)
    return artifact, OnnxRuntimeBackend(artifact, threads=threads, alone_threads=alone_threads)
