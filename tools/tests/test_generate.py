"""Generated manifests are up to date with the SLO declaration, which is itself validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops import delivery
from gitops.generate import OUTPUTS, main, stale_files
from gitops.paths import REPO_ROOT
from gitops.slo import SloError, load_slo


def test_committed_files_match_a_fresh_generation() -> None:
    assert stale_files(REPO_ROOT) == [], "run `make generate` and commit the result"


def test_every_generated_manifest_is_deployed() -> None:
    """A generated file that no Application renders would never reach the cluster: the chart's
    files/ reach every environment with their metrics as generated, the rest are listed in their
    folder's kustomization."""
    cluster = delivery.load(REPO_ROOT)
    for path in OUTPUTS:
        generated = yaml.safe_load((REPO_ROOT / path).read_text())
        if path.parent == Path("rollouts/files"):
            for app in cluster.applications:
                if app.environment:
                    deployed = [
                        m for m in app.objects or () if m["metadata"]["name"] == generated["metadata"]["name"]
                    ]
                    assert len(deployed) == 1, f"{path} does not reach {app.name}"
                    assert _without_images(deployed[0]["spec"]) == _without_images(generated["spec"])
        else:
            listed = yaml.safe_load((REPO_ROOT / path.parent / "kustomization.yaml").read_text())["resources"]
            assert path.name in listed, f"{path} is not in {path.parent}/kustomization.yaml"


def _without_images(node: object) -> object:
    """The chart runs the paired check on the release's image; the file names a placeholder."""
    if isinstance(node, dict):
        return {k: _without_images(v) for k, v in node.items() if k not in {"image", "imagePullPolicy"}}
    if isinstance(node, list):
        return [_without_images(item) for item in node]
    return node


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    (tmp_path / "platform" / "slo").mkdir(parents=True)
    (tmp_path / "rollouts/files").mkdir(parents=True)
    (tmp_path / "platform/slo/slos.yaml").write_text((REPO_ROOT / "platform/slo/slos.yaml").read_text())
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0
    (tmp_path / "rollouts/files/analysis-step.yaml").write_text("edited by hand\n")
    assert main(["--root", str(tmp_path), "--check"]) == 1


def test_thresholds_come_from_the_slos() -> None:
    slo = load_slo(REPO_ROOT / "platform/slo/slos.yaml")
    for path in ("rollouts/files/analysis-background.yaml", "rollouts/files/analysis-step.yaml"):
        metrics = {m["name"]: m for m in yaml.safe_load((REPO_ROOT / path).read_text())["spec"]["metrics"]}
        assert f"result[0] <= {slo.canary_max_error_rate}" in metrics["error-rate"]["successCondition"]
        assert f"result[0] <= {slo.latency_threshold_seconds}" in metrics["latency-p99"]["successCondition"]
    assert slo.canary_max_error_rate == pytest.approx(
        (1 - slo.availability_target) * slo.canary_max_burn_rate
    )


def test_the_judging_comes_from_the_slos() -> None:
    policy = load_slo(REPO_ROOT / "platform/slo/slos.yaml").analysis
    background = yaml.safe_load((REPO_ROOT / "rollouts/files/analysis-background.yaml").read_text())["spec"][
        "metrics"
    ]
    step = yaml.safe_load((REPO_ROOT / "rollouts/files/analysis-step.yaml").read_text())["spec"]["metrics"]
    for metric in background:
        assert metric["failureLimit"] == policy.background_failures - 1
        assert metric["inconclusiveLimit"] == policy.background_inconclusive - 1
        assert "count" not in metric  # measures until the rollout ends
    for metric in step:
        assert metric["count"] == policy.step_measurements
        assert (metric["failureLimit"], metric["inconclusiveLimit"]) == (0, 0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("threshold_seconds: 0.3", "threshold_seconds: 0.33"), "not a histogram bucket bound"),
        (("target: 0.999", "target: 1.5"), "availability target must be between"),
        (("max_burn_rate: 14.4", "max_burn_rate: 2000"), "canary max error rate"),
        (("service: classifier", "servic: classifier"), "missing or invalid field"),
        (("    measurements: 3", "    measurements: 0"), "measurement counts must be at least 1"),
        (("  interval: 1m", "  interval: a minute"), "is not a duration"),
        (("window: 30d", "window: 30 days"), "is not a duration"),
        (("availability_target: 0.99", "availability_target: 1.5"), "classifier-dev availability target"),
        (("dev: {pages: false,", "dev: {pages: no-thanks,"), "pages must be true or false"),
        (("prod: {pages: true, always_serves: true}", "prod: {pages: true}"), "always_serves"),
        (("\nalerting:\n", "\nalerting_off:\n"), "alerting"),
        (
            ("same_network: {min_agreement: 0.85,", "same_network: {min_agreement: 0.97,"),
            "floors go from the same model's down to a new model's",
        ),
        (
            ("same_network: {min_agreement: 0.85,", "same_network: {min_agreement: 0.3,"),
            "floors go from the same model's down to a new model's",
        ),
        (("    same_network: {", "    same_netwrk: {"), "missing or invalid field: 'same_network'"),
    ],
)
def test_inconsistent_slos_are_refused(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    source = (REPO_ROOT / "platform/slo/slos.yaml").read_text()
    assert edit[0] in source
    path = tmp_path / "slos.yaml"
    path.write_text(source.replace(*edit))
    with pytest.raises(SloError, match=message):
        load_slo(path)
