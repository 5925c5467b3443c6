"""The model artifact: an ONNX graph, a TorchScript module and the metadata that describes them.

The build (`classifier_modelbuild`, in services/modelbuild) writes it; the service only reads it.
The metadata is the single source of truth for input size, preprocessing and labels, so
serving never needs timm. A drill artifact (``drill_defect`` set) is deliberately wrong and
served only where a drill allows it (``CLASSIFIER_ALLOW_DRILL_DEFECTS``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, get_args

from classifier.resample import Interpolation

METADATA_FILE = "metadata.json"
ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.torchscript.pt"


class ArtifactError(RuntimeError):
    """The artifact directory is missing, incomplete or does not match its checksums."""


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """How a decoded RGB image becomes the model's input tensor."""

    resize_shorter_side: int
    crop_size: int
    interpolation: Interpolation
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.interpolation not in get_args(Interpolation):
            raise ArtifactError(
                f"unsupported interpolation {self.interpolation!r}: use one of {get_args(Interpolation)}"
            )


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    version: str
    variant: str
    input_name: str
    output_name: str
    input_size: int
    preprocessing: Preprocessing
    labels: tuple[str, ...]
    weights_sha256: str
    onnx_sha256: str
    torchscript_sha256: str
    versions: dict[str, str]
    # The deliberate defect of a drill-only artifact (classifier_modelbuild.drill_defects);
    # None for a healthy one, and for metadata written before the field existed.
    drill_defect: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelMetadata:
        pre = raw["preprocessing"]
        defect = raw.get("drill_defect")
        if defect is not None and not (isinstance(defect, str) and defect):
            raise TypeError(f"drill_defect must be a defect's name or null, not {defect!r}")
        return cls(
            **{
                **raw,
                "preprocessing": Preprocessing(
                    **{**pre, "mean": tuple(pre["mean"]), "std": tuple(pre["std"])}
                ),
                "labels": tuple(raw["labels"]),
            }
        )


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    directory: Path
    metadata: ModelMetadata

    @property
    def onnx_path(self) -> Path:
        return self.directory / ONNX_FILE

    @property
    def torchscript_path(self) -> Path:
        return self.directory / TORCHSCRIPT_FILE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_artifact(directory: Path, *, verify: str = ONNX_FILE) -> ModelArtifact:
    """Read the metadata and check the checksum of the file the chosen backend will load."""
    metadata_path = directory / METADATA_FILE
    if not metadata_path.is_file():
        raise ArtifactError(f"no {METADATA_FILE} in {directory}: build it with `make model`")
    try:
        metadata = ModelMetadata.from_dict(json.loads(metadata_path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{metadata_path} is not valid model metadata: {error}") from None
    expected = {ONNX_FILE: metadata.onnx_sha256, TORCHSCRIPT_FILE: metadata.torchscript_sha256}
    path = directory / verify
    if not path.is_file():
        raise ArtifactError(f"{path} is missing")
    if sha256_of(path) != expected[verify]:
        raise ArtifactError(f"{path} does not match the sha256 recorded in {METADATA_FILE}")
    return ModelArtifact(directory=directory, metadata=metadata)
