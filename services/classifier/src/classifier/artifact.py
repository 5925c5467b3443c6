"""The model artifact: the model's files and the metadata that describes them.

Two kinds, told apart by their metadata: the network as trained (an ONNX graph for ONNX Runtime
and a TorchScript module for torch, float32), and a faster execution of that network derived
from it (an OpenVINO IR with int8 layers; ``execution`` says how it was made). The build
(`classifier_modelbuild`, in services/modelbuild) writes both; the service only reads them.
The metadata is the single source of truth for input size, preprocessing and labels, so
serving never needs timm. A drill artifact (``drill_defect`` set) is deliberately wrong and
served only where a drill allows it (``CLASSIFIER_ALLOW_DRILL_DEFECTS``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from classifier.resample import Interpolation

METADATA_FILE = "metadata.json"
ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.torchscript.pt"
OPENVINO_FILES = ("model.xml", "model.bin")  # OpenVINO IR: the graph, then its weights
Runtime = Literal["onnxruntime", "openvino"]


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
class Execution:
    """How a derived artifact executes the network of another artifact (same name, weights)."""

    runtime: Runtime
    precision: str  # e.g. "int8"
    method: str  # how it was made, for a reader
    derived_from: str  # the version of the float32 artifact it was made from and checked against
    calibration: str  # what the quantization measured its ranges on
    float_layers: tuple[str, ...]  # layers kept in float32, and why (method)
    agreement: dict[str, float]  # the parity report's summary against `derived_from`


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
    # The network as trained: both set. A derived execution: both None, and the next two set.
    onnx_sha256: str | None
    torchscript_sha256: str | None
    versions: dict[str, str]
    # The deliberate defect of a drill-only artifact (classifier_modelbuild.drill_defects);
    # None for a healthy one, and for metadata written before the field existed.
    drill_defect: str | None = None
    openvino_sha256: dict[str, str] | None = None  # OPENVINO_FILES -> sha256
    execution: Execution | None = None

    @property
    def runtime(self) -> Runtime:
        """The CPU runtime that reads this artifact's serving file(s)."""
        return "openvino" if self.execution is not None else "onnxruntime"

    def file_checksums(self) -> dict[str, str]:
        """Every model file of the artifact and its recorded sha256."""
        files = {ONNX_FILE: self.onnx_sha256, TORCHSCRIPT_FILE: self.torchscript_sha256}
        return {name: sha for name, sha in (files | (self.openvino_sha256 or {})).items() if sha}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelMetadata:
        pre = raw["preprocessing"]
        defect = raw.get("drill_defect")
        if defect is not None and not (isinstance(defect, str) and defect):
            raise TypeError(f"drill_defect must be a defect's name or null, not {defect!r}")
        execution = raw.get("execution")
        metadata = cls(
            **{
                **raw,
                "preprocessing": Preprocessing(
                    **{**pre, "mean": tuple(pre["mean"]), "std": tuple(pre["std"])}
                ),
                "labels": tuple(raw["labels"]),
                "execution": None
                if execution is None
                else Execution(**{**execution, "float_layers": tuple(execution["float_layers"])}),
            }
        )
        trained = metadata.onnx_sha256 is not None and metadata.torchscript_sha256 is not None
        derived = metadata.execution is not None and metadata.openvino_sha256 is not None
        if trained == derived:
            raise TypeError("set either onnx_sha256 and torchscript_sha256, or execution and openvino_sha256")
        return metadata


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

    @property
    def openvino_path(self) -> Path:
        return self.directory / OPENVINO_FILES[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_artifact(directory: Path, *, verify: tuple[str, ...] | None = None) -> ModelArtifact:
    """Read the metadata and check the checksums of the files a backend will load: ``verify``,
    or by default those of the artifact's own CPU runtime."""
    metadata_path = directory / METADATA_FILE
    if not metadata_path.is_file():
        raise ArtifactError(f"no {METADATA_FILE} in {directory}: build it with `make model`")
    try:
        metadata = ModelMetadata.from_dict(json.loads(metadata_path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{metadata_path} is not valid model metadata: {error}") from None
    expected = metadata.file_checksums()
    if verify is None:
        verify = (ONNX_FILE,) if metadata.runtime == "onnxruntime" else OPENVINO_FILES
    for name in verify:
        path = directory / name
        if name not in expected:
            raise ArtifactError(
                f"{directory} has no {name}: it is an artifact for {metadata.runtime}"
                f"{' (' + metadata.execution.precision + ')' if metadata.execution else ''}"
            )
        if not path.is_file():
            raise ArtifactError(f"{path} is missing")
        if sha256_of(path) != expected[name]:
            raise ArtifactError(f"{path} does not match the sha256 recorded in {METADATA_FILE}")
    return ModelArtifact(directory=directory, metadata=metadata)
