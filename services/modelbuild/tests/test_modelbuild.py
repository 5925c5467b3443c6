"""The model build: every variant builds the same way, and a wrong export is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from classifier.artifact import load_artifact
from classifier_modelbuild import cli
from classifier_modelbuild.parity import ParityError, check_parity, parity_photos
from classifier_modelbuild.variants import VARIANTS
from classifier_modelbuild.weights import build_torch_model


@pytest.mark.parametrize(("variant", "size"), [("lite1", 240), ("lite2", 260)])
def test_larger_variants_build_with_their_input_size(tmp_path: Path, variant: str, size: int) -> None:
    assert cli.main(["--variant", variant, "--version", "7", "--output", str(tmp_path)]) == 0
    directory = tmp_path / f"efficientnet-{variant}" / "7"
    meta = load_artifact(directory).metadata
    assert (meta.name, meta.version, meta.input_size) == (f"efficientnet-{variant}", "7", size)
    assert meta.preprocessing.resize_shorter_side == int(size / 0.875)
    assert sorted(p.name for p in directory.iterdir()) == [
        "metadata.json",
        "model.onnx",
        "model.torchscript.pt",
    ]
    assert not list(tmp_path.glob(".build-*")), "the scratch directory must not be left behind"
    assert directory.stat().st_mode & 0o777 == 0o755, "readable by the unprivileged serving user"
    assert all(path.stat().st_mode & 0o004 for path in directory.iterdir())


def test_weights_map_onto_timm_in_order() -> None:
    model = build_torch_model(VARIANTS["lite0"])
    tensors = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    assert len(tensors) == 247


def test_parity_check_catches_a_different_model(artifact_dir: Path) -> None:
    """Export from one model, compare against a slightly different one: the build must fail."""
    meta = load_artifact(artifact_dir).metadata
    model = build_torch_model(VARIANTS["lite0"])
    with torch.no_grad():
        model.get_classifier().bias.add_(torch.linspace(0, 3, 1000))  # reorders the top-5
    with pytest.raises(ParityError, match="top-5"):
        check_parity(
            model,
            str(artifact_dir / "model.onnx"),
            str(artifact_dir / "model.torchscript.pt"),
            parity_photos(),
            meta.preprocessing,
        )


def test_metadata_is_plain_json(artifact_dir: Path) -> None:
    raw = json.loads((artifact_dir / "metadata.json").read_text())
    assert raw["preprocessing"]["interpolation"] == "bicubic"
    assert raw["versions"]["opset"] == "17"
