"""`classifier-build-model`: build a versioned model artifact directory.

    classifier-build-model --variant lite0 --output artifacts

writes ``artifacts/efficientnet-lite0/<version>/`` with model.onnx, model.torchscript.pt and
metadata.json, after checking torch, TorchScript and ONNX Runtime agree on real photos.

    classifier-build-model --variant lite0 --output artifacts --drill-defect shuffled-labels

DRILL ONLY: writes ``artifacts/efficientnet-lite0/drill-shuffled-labels/``, the healthy
artifact (``--version``) with one deliberate defect (classifier_modelbuild.drill_defects).

    classifier-build-model --variant lite0 --output artifacts --execution openvino-int8

writes ``artifacts/efficientnet-lite0/1+int8/``: the int8 execution of artifact ``--version``
(classifier_modelbuild.quantize), a new model version of its own, with parity.json, its agreement
with that float32 artifact (classifier_modelbuild.agreement); the build fails below the floors.
The version is ``<version>+int8``: the same network's version with build metadata (SemVer 2.0.0,
item 10), which the paired quality check reads as the same network (classifier.quality_check).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING

from classifier.artifact import (
    METADATA_FILE,
    ONNX_FILE,
    OPENVINO_FILES,
    TORCHSCRIPT_FILE,
    ArtifactError,
    Execution,
    ModelArtifact,
    ModelMetadata,
    Preprocessing,
    load_artifact,
    sha256_of,
)
from classifier_modelbuild.drill_defects import (
    DRILL_DEFECTS,
    MODEL_DEFECTS,
    drill_defect,
    drill_version,
    with_defect_in_metadata,
    with_defect_in_model,
)
from classifier_modelbuild.variants import VARIANTS, Variant

if TYPE_CHECKING:
    import torch


def imagenet_labels() -> tuple[str, ...]:
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def build(variant: Variant, version: str, output_root: Path) -> Path:
    """Build the artifact into ``output_root/<model name>/<version>``; return that directory."""
    from classifier_modelbuild.weights import build_torch_model

    destination = output_root / variant.model_name / version
    spec = Preprocessing(
        resize_shorter_side=variant.resize_shorter_side,
        crop_size=variant.crop_size,
        interpolation="bicubic",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
    model = build_torch_model(variant)
    output_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_root, prefix=".build-") as scratch:
        work = Path(scratch)
        metadata = _export_checked(model, variant, version, spec, work)
        _publish(work, metadata, destination)
    return destination


def build_drill(variant: Variant, defect: str, output_root: Path, *, healthy_version: str = "1") -> Path:
    """DRILL ONLY: build ``output_root/<model name>/drill-<defect>`` from the healthy artifact
    ``healthy_version`` with one deliberate defect (classifier_modelbuild.drill_defects).

    A metadata defect copies the healthy model files; a graph defect exports them again.
    """
    from classifier_modelbuild.weights import build_torch_model

    known = drill_defect(defect)
    healthy = _healthy_artifact(variant, output_root / variant.model_name / healthy_version)
    destination = output_root / variant.model_name / drill_version(known)
    with tempfile.TemporaryDirectory(dir=output_root, prefix=".build-") as scratch:
        work = Path(scratch)
        if known in MODEL_DEFECTS:
            model = with_defect_in_model(build_torch_model(variant), known)
            metadata = _export_checked(
                model, variant, healthy.metadata.version, healthy.metadata.preprocessing, work
            )
        else:
            for name in (ONNX_FILE, TORCHSCRIPT_FILE):
                shutil.copyfile(healthy.directory / name, work / name)
            metadata = healthy.metadata
        _publish(work, with_defect_in_metadata(metadata, known), destination)
    return destination


EXECUTIONS = ("openvino-int8",)
PARITY_FILE = "parity.json"


def int8_version(version: str) -> str:
    return f"{version}+int8"


def build_int8(variant: Variant, output_root: Path, *, version: str = "1") -> Path:
    """Build ``output_root/<model name>/<version>+int8`` from the float32 artifact ``version``:
    quantize, check its agreement with that artifact (AgreementError below the floors), publish."""
    import onnxruntime as ort

    from classifier.backends.openvino_backend import OpenVinoBackend
    from classifier_modelbuild.agreement import check_agreement
    from classifier_modelbuild.quantize import FLOAT_LAYERS, METHOD, calibration_description, quantize_int8

    source = _healthy_artifact(variant, output_root / variant.model_name / version)
    meta = source.metadata
    destination = output_root / variant.model_name / int8_version(version)
    with tempfile.TemporaryDirectory(dir=output_root, prefix=".build-") as scratch:
        work = Path(scratch)
        quantize_int8(source.onnx_path, meta.preprocessing, work)
        metadata = dataclasses.replace(
            meta,
            version=int8_version(version),
            onnx_sha256=None,
            torchscript_sha256=None,
            openvino_sha256={name: sha256_of(work / name) for name in OPENVINO_FILES},
            versions=meta.versions
            | {name: package_version(name) for name in ("openvino", "nncf", "onnxruntime")},
            execution=Execution(
                runtime="openvino",
                precision="int8",
                method=METHOD,
                derived_from=version,
                calibration=calibration_description(),
                float_layers=FLOAT_LAYERS,
                agreement={},
            ),
        )
        reference = ort.InferenceSession(str(source.onnx_path), providers=["CPUExecutionProvider"])
        derived = OpenVinoBackend(ModelArtifact(work, metadata), threads=2)
        report = check_agreement(
            lambda batch: reference.run(None, {meta.input_name: batch})[0],
            derived.predict,
            meta.preprocessing,
            meta.labels,
        )
        (work / PARITY_FILE).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        assert metadata.execution is not None
        metadata = dataclasses.replace(
            metadata, execution=dataclasses.replace(metadata.execution, agreement=report.summary())
        )
        print(
            f"{variant.model_name} {metadata.version}: top-1 agreement with {version} "
            f"{report.all_top1:.1%} of {report.views} views, {report.decided_top1:.1%} of the "
            f"{report.decided_views} decided ones, parity photos {report.parity_top1:.0%}"
        )
        _publish(work, metadata, destination)
    return destination


def _healthy_artifact(variant: Variant, directory: Path) -> ModelArtifact:
    artifact = load_artifact(directory, verify=(ONNX_FILE, TORCHSCRIPT_FILE))
    metadata = artifact.metadata
    if metadata.variant != variant.key or metadata.drill_defect is not None or metadata.execution is not None:
        raise ArtifactError(
            f"{directory} is not a healthy float32 {variant.key} artifact to derive another from"
        )
    return artifact


def _export_checked(
    model: torch.nn.Module, variant: Variant, version: str, spec: Preprocessing, work: Path
) -> ModelMetadata:
    """Export both formats into ``work``, prove they agree with ``model``, and describe them."""
    from classifier_modelbuild.export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, export_torchscript
    from classifier_modelbuild.parity import check_parity, parity_photos

    export_onnx(model, variant.crop_size, work / ONNX_FILE)
    export_torchscript(model, variant.crop_size, work / TORCHSCRIPT_FILE)
    report = check_parity(model, str(work / ONNX_FILE), str(work / TORCHSCRIPT_FILE), parity_photos(), spec)
    print(
        f"{variant.model_name} {version}: parity ok on {report.photos} photos, "
        f"max logit difference {report.max_logit_difference:.2e}"
    )
    return ModelMetadata(
        name=variant.model_name,
        version=version,
        variant=variant.key,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        input_size=variant.crop_size,
        preprocessing=spec,
        labels=imagenet_labels(),
        weights_sha256=sha256_of(variant.weights_path()),
        onnx_sha256=sha256_of(work / ONNX_FILE),
        torchscript_sha256=sha256_of(work / TORCHSCRIPT_FILE),
        versions={name: package_version(name) for name in ("torch", "onnx", "onnxruntime", "timm")}
        | {"opset": str(OPSET), "weights_package": package_version(variant.weights_package)},
    )


def _publish(work: Path, metadata: ModelMetadata, destination: Path) -> None:
    """Write the metadata and move the scratch directory ``work`` into place as ``destination``."""
    (work / METADATA_FILE).write_text(metadata.to_json())
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    work.rename(destination)
    # mkdtemp made it private (0700): the service runs as another, unprivileged user.
    destination.chmod(0o755)
    # TemporaryDirectory's cleanup must not fail now that the folder has moved.
    work.mkdir()
    marker = f", DRILL ONLY: defect {metadata.drill_defect}" if metadata.drill_defect else ""
    print(f"built {destination}{marker}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classifier-build-model", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="lite0")
    parser.add_argument(
        "--version",
        default="1",
        help="artifact version (a directory name); with --drill-defect, the healthy one to derive from",
    )
    parser.add_argument("--output", type=Path, default=Path("artifacts"), help="artifact root")
    parser.add_argument(
        "--drill-defect",
        choices=DRILL_DEFECTS,
        help="DRILL ONLY: build a deliberately wrong artifact into the directory drill-<defect> (its "
        "metadata keeps the healthy name and version, marked drill_defect), which the service refuses "
        "unless CLASSIFIER_ALLOW_DRILL_DEFECTS=true",
    )
    parser.add_argument(
        "--execution",
        choices=EXECUTIONS,
        help="build a faster execution of the float32 artifact --version as its own model version, "
        "<version>+int8, checked against it (classifier_modelbuild.agreement)",
    )
    args = parser.parse_args(argv)
    if args.execution and args.drill_defect:
        parser.error("--execution and --drill-defect build different artifacts: give one")
    try:
        if args.execution is not None:
            build_int8(VARIANTS[args.variant], args.output, version=args.version)
        elif args.drill_defect is None:
            build(VARIANTS[args.variant], args.version, args.output)
        else:
            build_drill(VARIANTS[args.variant], args.drill_defect, args.output, healthy_version=args.version)
    except Exception as error:  # the build's one-line failure message
        print(f"classifier-build-model: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
