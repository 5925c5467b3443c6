"""The model artifacts local servers load: the lite0 one `make model` builds, its int8 execution
(`make model-int8`), and the drill-only defective ones `make drill-models` derives from it."""

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


def variant_artifact(variant: str) -> Path:
    """Another EfficientNet-Lite's artifact (lite1, lite2): the "new model" of a release; built
    here first if missing (about a minute)."""
    directory = DEFAULT_ARTIFACT.parents[1] / f"efficientnet-{variant}" / DEFAULT_ARTIFACT.name
    if not (directory / "metadata.json").is_file():
        from classifier_modelbuild.cli import build
        from classifier_modelbuild.variants import VARIANTS

        build(VARIANTS[variant], directory.name, directory.parents[1])
    return directory


def drill_artifact(defect: str) -> Path:
    """DRILL ONLY: the lite0 artifact with one deliberate defect (see
    classifier_modelbuild.drill_defects); built here first if missing or older than the healthy one."""
    from classifier_modelbuild.cli import build_drill
    from classifier_modelbuild.drill_defects import drill_defect, drill_version
    from classifier_modelbuild.variants import VARIANTS

    healthy = default_artifact() / "metadata.json"
    directory = DEFAULT_ARTIFACT.parent / drill_version(drill_defect(defect))
    metadata = directory / "metadata.json"
    if not metadata.is_file() or metadata.stat().st_mtime < healthy.stat().st_mtime:
        build_drill(
            VARIANTS["lite0"], defect, DEFAULT_ARTIFACT.parents[1], healthy_version=DEFAULT_ARTIFACT.name
        )
    return directory


def int8_artifact() -> Path:
    """The lite0 artifact's int8 execution (`make model-int8`, version ``1+int8``); built here
    first if missing or older than the float32 one (about 30 s)."""
    from classifier_modelbuild.cli import build_int8, int8_version
    from classifier_modelbuild.variants import VARIANTS

    source = default_artifact() / "metadata.json"
    directory = DEFAULT_ARTIFACT.parent / int8_version(DEFAULT_ARTIFACT.name)
    metadata = directory / "metadata.json"
    if not metadata.is_file() or metadata.stat().st_mtime < source.stat().st_mtime:
        build_int8(VARIANTS["lite0"], DEFAULT_ARTIFACT.parents[1], version=DEFAULT_ARTIFACT.name)
    return directory
