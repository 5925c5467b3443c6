"""The lite0 artifact the build's tests compare against."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier_testkit.artifacts import default_artifact


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """The lite0 artifact `make model` builds; built here if a bare `pytest` runs first."""
    return default_artifact()
