"""The artifact the build writes: complete metadata, checksums enforced on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from classifier.artifact import ONNX_FILE, ArtifactError, load_artifact, sha256_of


def test_metadata_records_what_serving_and_audits_need(artifact_dir: Path) -> None:
    meta = load_artifact(artifact_dir).metadata
    assert (meta.name, meta.version, meta.variant, meta.input_size) == (
        "efficientnet-lite0",
        "1",
        "lite0",
        224,
    )
    assert meta.preprocessing.crop_size == 224
    assert meta.preprocessing.resize_shorter_side == 256
    assert meta.preprocessing.mean == meta.preprocessing.std == (0.5, 0.5, 0.5)
    assert len(meta.labels) == 1000
    assert meta.labels[967] == "espresso"
    assert meta.onnx_sha256 == sha256_of(artifact_dir / ONNX_FILE)
    assert len(meta.weights_sha256) == 64
    assert {"torch", "onnx", "onnxruntime", "opset"} <= set(meta.versions)


def test_tampered_onnx_file_is_refused(artifact_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(artifact_dir, copy)
    with (copy / ONNX_FILE).open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        load_artifact(copy)


def test_unreadable_metadata_is_refused(artifact_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(artifact_dir, copy)
    (copy / "metadata.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ArtifactError, match="not valid model metadata"):
        load_artifact(copy)


def test_metadata_written_before_drill_defects_existed_loads_as_healthy(
    artifact_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(artifact_dir, copy)
    raw = json.loads((copy / "metadata.json").read_text())
    raw.pop("drill_defect", None)
    (copy / "metadata.json").write_text(json.dumps(raw))
    assert load_artifact(copy).metadata.drill_defect is None


def test_healthy_artifact_records_no_drill_defect(artifact_dir: Path) -> None:
    metadata = load_artifact(artifact_dir).metadata
    assert metadata.drill_defect is None
    assert json.loads(metadata.to_json())["drill_defect"] is None


@pytest.mark.parametrize("defect", [3, "", ["shuffled-labels"]])
def test_malformed_drill_defect_is_refused(artifact_dir: Path, tmp_path: Path, defect: object) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(artifact_dir, copy)
    raw = json.loads((copy / "metadata.json").read_text())
    (copy / "metadata.json").write_text(json.dumps(raw | {"drill_defect": defect}))
    with pytest.raises(ArtifactError, match="drill_defect must be a defect's name or null"):
        load_artifact(copy)
