"""Every alert has promtool unit tests that pass: it fires when it should and stays quiet on
healthy or noisy input. Every alert has a summary, a description and an existing runbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from gitops.alerts import RUNBOOK_BASE
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES, alert_rules, coverage, promtool_test_file

# The `phase` values argo-rollouts v1.8.3 exports: controller/metrics/rollouts.go (RolloutPhase,
# calculatePhase) and pkg/apis/rollouts/v1alpha1/analysis_types.go (AnalysisPhase).
ROLLOUT_PHASES = {"Progressing", "Paused", "Completed", "Abort", "Error", "Timeout", "InvalidSpec"}
ANALYSIS_PHASES = {"Pending", "Running", "Successful", "Failed", "Error", "Inconclusive"}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: .ci/run installs Debian's prometheus package"
    return found


def test_rules_file_is_valid(tmp_path: Path) -> None:
    spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [promtool(), "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_passes_its_promtool_unit_tests(tmp_path: Path) -> None:
    spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump(promtool_test_file(REPO_ROOT, "rules.yaml"), sort_keys=False)
    )
    result = subprocess.run(
        [promtool(), "test", "rules", "tests.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_both_ways() -> None:
    for alert, (fires, stays_quiet) in coverage(REPO_ROOT).items():
        assert fires, f"{alert}: no scenario where it fires"
        assert stays_quiet, f"{alert}: no scenario where it must not fire"


def test_every_alert_is_documented_and_has_a_runbook() -> None:
    for name, rule in alert_rules(REPO_ROOT).items():
        annotations = rule["annotations"]
        assert annotations["summary"]
        assert annotations["description"]
        assert annotations["runbook_url"].startswith(RUNBOOK_BASE + "/")
        page = REPO_ROOT / "runbooks" / annotations["runbook_url"].removeprefix(RUNBOOK_BASE + "/")
        assert page.is_file(), f"{name}: runbook {page} is missing"
        assert name in page.read_text(), f"{page} does not name the alert {name}"
        assert rule["labels"]["severity"] in {"page", "ticket"}


def test_rollout_alerts_match_only_phases_argo_rollouts_exports() -> None:
    """The metrics' phases differ from the Rollout's status.phase (Degraded): a wrong one never fires."""
    rules = alert_rules(REPO_ROOT)
    for alert, metric, exported in (
        ("ClassifierRolloutAborted", "rollout_info", ROLLOUT_PHASES),
        ("ClassifierCanaryAnalysisFailing", "analysis_run_metric_phase", ANALYSIS_PHASES),
    ):
        matched = re.search(rf'{metric}\{{[^}}]*phase=~?"([^"]+)"', rules[alert]["expr"])
        assert matched, f"{alert} does not select {metric} by phase"
        assert set(matched.group(1).split("|")) <= exported, f"{alert}: {matched.group(1)}"
