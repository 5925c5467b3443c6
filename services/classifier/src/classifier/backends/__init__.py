"""Inference backends behind one small interface; `load_model` picks one for the artifact."""

from __future__ import annotations

from classifier.artifact import (
    METADATA_FILE,
    ONNX_FILE,
    OPENVINO_FILES,
    TORCHSCRIPT_FILE,
    ArtifactError,
    ModelArtifact,
    ModelMetadata,
    load_artifact,
)
from classifier.backends.base import InferenceBackend
from classifier.config import Backend, Settings

__all__ = ["InferenceBackend", "check_artifact", "chosen_backend", "load_model", "uses_accelerator"]

# The files each backend reads.
BACKEND_FILES: dict[Backend, tuple[str, ...]] = {
    "onnxruntime": (ONNX_FILE,),
    "openvino": OPENVINO_FILES,
    "torch": (TORCHSCRIPT_FILE,),
}


def uses_accelerator(settings: Settings) -> bool:
    """Whether the configured backend will run on a GPU (decides the batching defaults)."""
    if settings.backend != "torch" or settings.device == "cpu":
        return False
    import torch

    return settings.device == "cuda" or torch.cuda.is_available()


def chosen_backend(settings: Settings, metadata: ModelMetadata | None = None) -> Backend:
    """The backend that will run the model: the configured one, or with ``auto`` the artifact's
    own CPU runtime (its metadata only, read here unless given; check_artifact verifies the files)."""
    if settings.backend != "auto":
        return settings.backend
    return (metadata or load_artifact(settings.model_dir, verify=()).metadata).runtime


def check_artifact(settings: Settings) -> tuple[ModelArtifact, Backend]:
    """The artifact with the files its backend reads verified, and that backend (chosen_backend).
    Raises ArtifactError on a mismatch."""
    raw = load_artifact(settings.model_dir, verify=()).metadata
    backend = chosen_backend(settings, raw)
    try:
        return load_artifact(settings.model_dir, verify=BACKEND_FILES[backend]), backend
    except ArtifactError as error:
        raise ArtifactError(f"CLASSIFIER_BACKEND={backend}: {error}{_hint(raw)}") from None


def load_model(
    settings: Settings, *, threads: int = 1, alone_threads: int | None = None, callers: int = 1
) -> tuple[ModelArtifact, InferenceBackend]:
    """Load the artifact named by the settings into its backend.

    ``threads`` per model call when calls run side by side; ``alone_threads`` for a call
    that runs by itself (defaults to ``threads``); ``callers``: how many threads call the model
    at once (the inference workers).
    """
    artifact, backend = check_artifact(settings)
    if backend == "torch":
        from classifier.backends.torch_backend import TorchBackend

        return artifact, TorchBackend(artifact, device=settings.device, threads=threads)
    if backend == "openvino":
        from classifier.backends.openvino_backend import OpenVinoBackend

        return artifact, OpenVinoBackend(
            artifact, threads=threads, alone_threads=alone_threads, callers=callers
        )
    from classifier.backends.onnxruntime_backend import OnnxRuntimeBackend

    return artifact, OnnxRuntimeBackend(artifact, threads=threads, alone_threads=alone_threads)


def _hint(metadata: ModelMetadata) -> str:
    if metadata.execution is None:
        return ""
    return (
        f"; this {METADATA_FILE} describes a {metadata.execution.precision} execution for "
        f"{metadata.runtime}: leave CLASSIFIER_BACKEND at auto"
    )
