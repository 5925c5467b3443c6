"""Export the eager model to the two serving formats."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@contextmanager
def quiet_legacy_exporters() -> Iterator[None]:
    """Silence torch's deprecation notices for the TorchScript exporter and torch.jit.

    Both are deliberate choices (see the function docstrings); the notices are not actionable.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def export_onnx(model: torch.nn.Module, crop_size: int, path: Path) -> None:
    """ONNX graph with a dynamic batch axis (TorchScript-based exporter: stable, no onnxscript)."""
    example = torch.zeros(1, 3, crop_size, crop_size)
    with quiet_legacy_exporters():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )


def export_torchscript(model: torch.nn.Module, crop_size: int, path: Path) -> None:
    """Traced module for the torch backend, so serving does not import timm."""
    example = torch.zeros(2, 3, crop_size, crop_size)
    with torch.no_grad(), quiet_legacy_exporters():
        traced = torch.jit.trace(model, example)  # type: ignore[no-untyped-call]
        torch.jit.save(traced, str(path))
