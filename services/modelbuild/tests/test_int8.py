"""The int8 execution: its own model version with its own metadata and parity report, checked
against the float32 artifact it came from; a model that answers differently fails the check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest

from classifier.artifact import OPENVINO_FILES, ArtifactError, load_artifact, sha256_of
from classifier_modelbuild.agreement import FLOORS, AgreementError, check_agreement
from classifier_modelbuild.cli import PARITY_FILE
from classifier_testkit.artifacts import drill_artifact, int8_artifact


@pytest.fixture(scope="module")
def int8_dir() -> Path:
    return int8_artifact()


def test_it_is_a_new_version_of_the_same_network(artifact_dir: Path, int8_dir: Path) -> None:
    float32, int8 = load_artifact(artifact_dir).metadata, load_artifact(int8_dir).metadata
    assert (int8.name, int8.version, int8.runtime) == (float32.name, "1+int8", "openvino")
    assert (int8.labels, int8.preprocessing, int8.weights_sha256) == (
        float32.labels,
        float32.preprocessing,
        float32.weights_sha256,
    )
    assert int8.onnx_sha256 is None
    assert int8.torchscript_sha256 is None
    assert int8.openvino_sha256 == {name: sha256_of(int8_dir / name) for name in OPENVINO_FILES}
    assert int8.execution is not None
    assert (int8.execution.precision, int8.execution.derived_from) == ("int8", "1")
    assert "seed 11" in int8.execution.calibration
    assert {"openvino", "nncf", "onnxruntime", "torch"} <= set(int8.versions)


def test_its_parity_report_meets_the_floors_and_lists_every_disagreement(int8_dir: Path) -> None:
    report = json.loads((int8_dir / PARITY_FILE).read_text())
    metadata = load_artifact(int8_dir).metadata
    assert metadata.execution is not None
    assert metadata.execution.agreement["all_top1"] == report["all_top1"]
    assert report["views"] >= 300
    assert report["parity_photos"] == 6
    assert report["parity_top1"] == 1.0
    assert report["decided_top1"] >= FLOORS.decided_top1
    assert report["all_top1"] >= FLOORS.all_top1
    assert len(report["disagreements"]) == round((1 - report["all_top1"]) * report["views"])
    # Every disagreement on a view is one float32 itself nearly ties on, or one of the few allowed.
    undecided = [d for d in report["disagreements"] if d["float32_margin"] < report["decided_margin"]]
    allowed = (1 - FLOORS.decided_top1) * report["decided_views"]
    assert len(undecided) >= len(report["disagreements"]) - allowed


def test_a_model_that_answers_differently_fails_the_check(artifact_dir: Path) -> None:
    """Colour channels swapped inside the graph (a drill defect) stands in for a bad quantization."""
    float32 = load_artifact(artifact_dir)
    wrong = load_artifact(drill_artifact("swapped-channels"))

    def predictor(path: Path):  # type: ignore[no-untyped-def]
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda batch: session.run(None, {float32.metadata.input_name: batch})[0]

    with pytest.raises(AgreementError, match=r"below its floors: .*all_top1 0\.[0-8]"):
        check_agreement(
            predictor(float32.onnx_path),
            predictor(wrong.onnx_path),
            float32.metadata.preprocessing,
            float32.metadata.labels,
        )


def test_the_build_refuses_to_derive_from_an_int8_artifact(int8_dir: Path, tmp_path: Path) -> None:
    from classifier_modelbuild.cli import main

    shutil.copytree(int8_dir, tmp_path / "efficientnet-lite0" / "1")
    assert main(["--output", str(tmp_path), "--execution", "openvino-int8"]) == 1


def test_metadata_that_is_neither_kind_is_refused(int8_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(int8_dir, copy)
    raw = json.loads((copy / "metadata.json").read_text())
    (copy / "metadata.json").write_text(json.dumps(raw | {"execution": None}))
    with pytest.raises(ArtifactError, match="set either onnx_sha256 and torchscript_sha256, or execution"):
        load_artifact(copy)
