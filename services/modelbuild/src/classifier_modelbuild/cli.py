"""`classifier-build-model`: build a versioned model artifact directory.

    classifier-build-model --variant lite0 --output artifacts

writes ``artifacts/efficientnet-lite0/<version>/`` with model.onnx, model.torchscript.pt and
metadata.json, after checking torch, TorchScript and ONNX Runtime agree on real photos.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path

from classifier.artifact import (
    METADATA_FILE,
    ONNX_FILE,
    TORCHSCRIPT_FILE,
    ModelMetadata,
    Preprocessing,
    sha256_of,
)
from classifier_modelbuild.variants import VARIANTS, Variant


def imagenet_labels() -> tuple[str, ...]:
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def build(variant: Variant, version: str, output_root: Path) -> Path:
    """Build the artifact into ``output_root/<model name>/<version>``; return that directory."""
    from classifier_modelbuild.export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, export_torchscript
    from classifier_modelbuild.parity import check_parity, parity_photos
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
        export_onnx(model, variant.crop_size, work / ONNX_FILE)
        export_torchscript(model, variant.crop_size, work / TORCHSCRIPT_FILE)
        report = check_parity(
            model, str(work / ONNX_FILE), str(work / TORCHSCRIPT_FILE), parity_photos(), spec
        )
        metadata = ModelMetadata(
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
        (work / METADATA_FILE).write_text(metadata.to_json())
        if destination.exists():
            shutil.rmtree(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        work.rename(destination)
        # mkdtemp made it private (0700): the service runs as another, unprivileged user.
        destination.chmod(0o755)
        # TemporaryDirectory's cleanup must not fail now that the folder has moved.
        work.mkdir()
    print(
        f"built {destination}: parity ok on {report.photos} photos, "
        f"max logit difference {report.max_logit_difference:.2e}"
    )
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classifier-build-model", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="lite0")
    parser.add_argument("--version", default="1", help="artifact version (a directory name)")
    parser.add_argument("--output", type=Path, default=Path("artifacts"), help="artifact root")
    args = parser.parse_args(argv)
    try:
        build(VARIANTS[args.variant], args.version, args.output)
    except Exception as error:  # the build's one-line failure message
        print(f"classifier-build-model: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
