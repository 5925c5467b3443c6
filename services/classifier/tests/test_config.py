"""Settings: defaults, parsing, validation, and the process's one-line refusal of bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.config import Settings, SettingsError, describe


def test_defaults_serve_lite0_on_loopback_8000() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.backend) == ("127.0.0.1", 8000, "auto")
    assert settings.model_dir == Path("artifacts/efficientnet-lite0/1")
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert not settings.faults_enabled


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {"CLASSIFIER_PORT": "9000", "CLASSIFIER_BACKEND": "TORCH", "CLASSIFIER_FAULT_ERROR_RATE": "0.05"}
    )
    assert (settings.port, settings.backend, settings.fault_error_rate) == (9000, "torch", 0.05)
    assert settings.faults_enabled


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("CLASSIFIER_PORT", "eighty", "expected int"),
        ("CLASSIFIER_PORT", "70000", "must be a TCP port"),
        ("CLASSIFIER_BACKEND", "tensorflow", "expected one of auto, onnxruntime, openvino, torch"),
        ("CLASSIFIER_MAX_BODY_BYTES", "0", "must be greater than 0"),
        ("CLASSIFIER_FAULT_ERROR_RATE", "1.5", "must be between 0 and 1"),
        ("CLASSIFIER_SHUTDOWN_TIMEOUT_S", "-1", "must be 0 or more"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert str(raised.value).startswith(f"{variable}={value!r} is invalid")
    assert reason in str(raised.value)


def test_every_setting_is_documented() -> None:
    assert all(help_text for _, _, help_text in describe())


def test_process_exits_nonzero_with_one_line_reason() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    result = subprocess.run(
        [sys.executable, "-m", "classifier"],
        env=env | {"CLASSIFIER_MAX_IMAGE_PIXELS": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "classifier: configuration error: CLASSIFIER_MAX_IMAGE_PIXELS='lots' is invalid: expected int"
    ]


def test_missing_artifact_exits_nonzero_with_one_line_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    result = subprocess.run(
        [sys.executable, "-m", "classifier"],
        env=env | {"CLASSIFIER_MODEL_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no metadata.json" in result.stderr


def test_drill_defects_are_refused_unless_a_drill_allows_them() -> None:
    assert not Settings.from_env({}).allow_drill_defects
    assert Settings.from_env({"CLASSIFIER_ALLOW_DRILL_DEFECTS": "true"}).allow_drill_defects
    with pytest.raises(SettingsError, match="CLASSIFIER_ALLOW_DRILL_DEFECTS='maybe' is invalid"):
        Settings.from_env({"CLASSIFIER_ALLOW_DRILL_DEFECTS": "maybe"})


def test_a_backend_that_cannot_read_the_artifact_exits_nonzero_with_one_line_reason() -> None:
    from classifier_testkit.artifacts import int8_artifact

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    result = subprocess.run(
        [sys.executable, "-m", "classifier"],
        env=env | {"CLASSIFIER_MODEL_DIR": str(int8_artifact()), "CLASSIFIER_BACKEND": "onnxruntime"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("classifier: model artifact error: CLASSIFIER_BACKEND=onnxruntime: ")
    assert line.endswith("leave CLASSIFIER_BACKEND at auto")
