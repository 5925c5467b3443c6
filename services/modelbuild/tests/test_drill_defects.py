"""Drill-only defective artifacts: built only when asked by name, marked, and wrong in one place."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from classifier.artifact import ONNX_FILE, TORCHSCRIPT_FILE, ArtifactError, load_artifact
from classifier_modelbuild import cli
from classifier_modelbuild.drill_defects import DRILL_DEFECTS, UnknownDrillDefect
from classifier_modelbuild.variants import VARIANTS
from classifier_testkit.artifacts import REPO_ROOT, drill_artifact

DOCKERFILE = REPO_ROOT / "services" / "classifier" / "Dockerfile"


def test_cli_refuses_an_unknown_defect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--drill-defect", "upside-down", "--output", str(tmp_path)])
    assert exited.value.code == 2
    assert "invalid choice: 'upside-down'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_build_refuses_an_unknown_defect_before_touching_anything(tmp_path: Path) -> None:
    with pytest.raises(UnknownDrillDefect, match="use one of shuffled-labels, swapped-channels"):
        cli.build_drill(VARIANTS["lite0"], "upside-down", tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_drill_artifact_needs_the_healthy_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--drill-defect", "wrong-crop", "--output", str(tmp_path)]) == 1
    assert "no metadata.json in" in capsys.readouterr().err


def test_a_drill_artifact_is_not_derived_from_another(tmp_path: Path) -> None:
    drill = drill_artifact("wrong-crop")
    with pytest.raises(ArtifactError, match="not a healthy float32 lite0 artifact"):
        cli.build_drill(VARIANTS["lite0"], "wrong-crop", drill.parents[1], healthy_version=drill.name)


@pytest.mark.parametrize("defect", DRILL_DEFECTS)
def test_each_drill_artifact_is_marked_by_its_directory_and_metadata(defect: str, artifact_dir: Path) -> None:
    directory = drill_artifact(defect)
    assert directory == artifact_dir.parent / f"drill-{defect}"
    for verify in ((ONNX_FILE,), (TORCHSCRIPT_FILE,)):
        meta = load_artifact(directory, verify=verify).metadata
        assert (meta.version, meta.drill_defect) == ("1", defect)  # the healthy version, marked
    assert load_artifact(artifact_dir).metadata.drill_defect is None
    assert directory.stat().st_mode & 0o777 == 0o755


def test_shuffled_labels_moves_every_label_the_same_way_each_build(
    artifact_dir: Path, tmp_path: Path
) -> None:
    healthy = load_artifact(artifact_dir).metadata
    shuffled = load_artifact(drill_artifact("shuffled-labels")).metadata
    assert sorted(shuffled.labels) == sorted(healthy.labels)
    assert all(a != b for a, b in zip(shuffled.labels, healthy.labels, strict=True))
    assert (shuffled.onnx_sha256, shuffled.preprocessing) == (healthy.onnx_sha256, healthy.preprocessing)
    (tmp_path / "efficientnet-lite0").mkdir()
    (tmp_path / "efficientnet-lite0" / "1").symlink_to(artifact_dir)
    again = cli.build_drill(VARIANTS["lite0"], "shuffled-labels", tmp_path)
    assert load_artifact(again).metadata.labels == shuffled.labels


def test_wrong_normalisation_feeds_0_to_1_instead_of_minus_1_to_1(artifact_dir: Path) -> None:
    healthy = load_artifact(artifact_dir).metadata
    wrong = load_artifact(drill_artifact("wrong-normalisation")).metadata
    assert (wrong.preprocessing.mean, wrong.preprocessing.std) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert (wrong.labels, wrong.onnx_sha256) == (healthy.labels, healthy.onnx_sha256)


def test_wrong_crop_zooms_2x_at_the_same_input_size(artifact_dir: Path) -> None:
    healthy = load_artifact(artifact_dir).metadata
    wrong = load_artifact(drill_artifact("wrong-crop")).metadata
    assert wrong.preprocessing.resize_shorter_side == 2 * healthy.preprocessing.crop_size == 448
    assert (wrong.input_size, wrong.preprocessing.crop_size) == (healthy.input_size, 224)
    assert (wrong.labels, wrong.onnx_sha256) == (healthy.labels, healthy.onnx_sha256)


def test_swapped_channels_model_computes_the_healthy_one_on_bgr(artifact_dir: Path) -> None:
    swapped = load_artifact(drill_artifact("swapped-channels"))
    healthy = load_artifact(artifact_dir)
    assert (swapped.metadata.labels, swapped.metadata.preprocessing) == (
        healthy.metadata.labels,
        healthy.metadata.preprocessing,
    )
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)

    def logits(artifact_path: Path, inputs: np.ndarray) -> np.ndarray:
        session = ort.InferenceSession(str(artifact_path), providers=["CPUExecutionProvider"])
        return session.run(None, {"input": inputs})[0]  # type: ignore[no-any-return]

    on_rgb = logits(swapped.onnx_path, batch)
    assert np.allclose(on_rgb, logits(healthy.onnx_path, batch[:, ::-1].copy()), atol=1e-4)
    assert not np.allclose(on_rgb, logits(healthy.onnx_path, batch), atol=1e-2)


def _build_model_calls(dockerfile: str) -> list[list[str]]:
    """The arguments of each of the Dockerfile's `classifier-build-model` calls, as the shell splits them."""
    joined = dockerfile.replace("\\\n", " ")
    return [shlex.split(call) for call in re.findall(r"classifier-build-model\s([^&;\n]*)", joined)]


def test_the_image_build_cannot_pass_a_drill_defect() -> None:
    text = DOCKERFILE.read_text()
    float32, int8 = _build_model_calls(text)
    assert float32[0::2] == ["--variant", "--version", "--output"]
    assert float32[1::2] == ["${MODEL_VARIANT}", "${float32_version}", "/opt/model"]
    assert int8 == [*float32[:4], "--execution", "openvino-int8", *float32[4:]]
    # Each build argument is one quoted word, so a --build-arg cannot add an option.
    assert text.count('--variant "${MODEL_VARIANT}" --version "${float32_version}"') == 2
    assert 'float32_version="${MODEL_VERSION%%+*}"' in text
    assert "drill" not in text.lower()
