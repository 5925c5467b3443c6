"""The model artifact local servers load: the lite0 one `make model` builds."""

from __future__ import annotations

from pathlib import Path

# services/testkit/src/classifier_testkit/artifacts.py -> the repository root (editable install).
REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_ARTIFACT = REPO_ROOT / "artifacts" / "efficientnet-lite0" / "1"


def default_artifact() -> Path:
    """The lite0 artifact; built here first if a bare `pytest` runs before `make model`."""
    if not (DEFAULT_ARTIFACT / "metadata.json").is_file():
        from classifier_modelbuild.cli import build
        from classifier_modelbuild.variants import VARIANTS

        build(VARIANTS["lite0"], DEFAULT_ARTIFACT.name, DEFAULT_ARTIFACT.parents[1])
    return DEFAULT_ARTIFACT
