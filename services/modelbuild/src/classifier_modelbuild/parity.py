"""Prove the exported files compute what the eager model computes, on real photos."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch
from PIL import Image

from classifier.artifact import Preprocessing
from classifier.preprocess import preprocess
from classifier_modelbuild.export import quiet_legacy_exporters

# Max |logit difference| allowed between runtimes. float32 reorderings give ~1e-5..1e-4;
# anything near 1e-2 means a different graph, not rounding.
MAX_LOGIT_DIFFERENCE = 2e-3
# scikit-image's sample photos of several kinds (objects, animals, people, grey, microscopy).
PARITY_PHOTOS = ("coffee", "chelsea", "rocket", "astronaut", "camera", "immunohistochemistry")


class ParityError(RuntimeError):
    """Two runtimes disagree on a photo."""


@dataclass(frozen=True, slots=True)
class ParityReport:
    photos: int
    max_logit_difference: float
    top5: dict[str, list[int]]


def parity_photos() -> dict[str, Image.Image]:
    """A varied set for checking two runtimes agree, as RGB images."""
    from skimage import data

    return {name: Image.fromarray(getattr(data, name)()).convert("RGB") for name in PARITY_PHOTOS}


def top5(logits: npt.NDArray[np.float32]) -> list[list[int]]:
    return [list(map(int, np.argsort(-row, kind="stable")[:5])) for row in logits]


def check_parity(
    model: torch.nn.Module,
    onnx_path: str,
    torchscript_path: str,
    photos: dict[str, Image.Image],
    spec: Preprocessing,
) -> ParityReport:
    """Compare eager torch with ONNX Runtime and TorchScript; raise ParityError on mismatch."""
    batch = np.stack([preprocess(np.asarray(image), spec) for image in photos.values()])
    with torch.no_grad():
        reference = model(torch.from_numpy(batch)).numpy()
        with quiet_legacy_exporters():
            loaded = torch.jit.load(torchscript_path)  # type: ignore[no-untyped-call]
        scripted = loaded(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    # Batch 1 and the whole batch: the dynamic axis must give the same answers.
    onnx_full = session.run(None, {session.get_inputs()[0].name: batch})[0]
    onnx_single = np.concatenate(
        [session.run(None, {session.get_inputs()[0].name: batch[i : i + 1]})[0] for i in range(len(batch))]
    )
    expected = top5(reference)
    worst = 0.0
    for runtime, logits in (
        ("onnxruntime", onnx_full),
        ("onnxruntime batch 1", onnx_single),
        ("torchscript", scripted),
    ):
        worst = max(worst, float(np.max(np.abs(logits - reference))))
        for name, want, got in zip(photos, expected, top5(logits), strict=True):
            if want != got:
                raise ParityError(f"{runtime} top-5 on {name!r} is {got}, eager torch says {want}")
    if worst > MAX_LOGIT_DIFFERENCE:
        raise ParityError(f"max logit difference {worst:.2e} exceeds {MAX_LOGIT_DIFFERENCE:.0e}")
    return ParityReport(
        photos=len(photos), max_logit_difference=worst, top5=dict(zip(photos, expected, strict=True))
    )
