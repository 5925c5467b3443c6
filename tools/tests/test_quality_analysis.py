"""The generated model-quality AnalysisTemplates: the paired check's Job as Argo Rollouts runs it,
and the live comparison's query as a real Prometheus evaluates it (promtool), judging a release
of stable's model only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.analysis_eval import render_args
from gitops.generate import SLO_FILE
from gitops.paths import REPO_ROOT
from gitops.quality_analysis import live_template, paired_template
from gitops.quality_stats import CLASS_GROUPS, CONFIDENCE_BOUNDS, log_e_value, promql_threshold
from gitops.slo import load_slo

from .test_quality_stats import (
    CANARY,
    EVAL_MINUTE,
    HEALTHY,
    LITE0,
    LITE2,
    NAMESPACE,
    STABLE,
    Pod,
    _series,
    _window_counts,
)

SLO = load_slo(REPO_ROOT / SLO_FILE)
ARGS = {"namespace": NAMESPACE, "canary-hash": CANARY, "stable-hash": STABLE}


def test_the_paired_job_runs_once_within_its_deadline_with_every_floor() -> None:
    template = paired_template(SLO)
    (metric,) = template["spec"]["metrics"]
    job = metric["provider"]["job"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (0, SLO.paired.deadline_seconds)
    (container,) = job["template"]["spec"]["containers"]
    defaults = {a["name"]: a["value"] for a in template["spec"]["args"]}
    command = [render_args(part, defaults) for part in container["command"]]
    assert f"--same-model-min-agreement={SLO.paired.same_model.min_agreement}" in command
    assert f"--new-model-min-top5-overlap={SLO.paired.new_model.min_top5_overlap}" in command
    assert f"--min-accuracy={SLO.paired.min_accuracy}" in command
    # The metric name fits the Job name Argo Rollouts builds: <uid 36>.<metric>.<n> <= 63.
    assert len(f"{'x' * 36}.{metric['name']}.99") <= 63


def test_the_live_thresholds_spend_the_budget_over_every_check() -> None:
    metrics = {m["name"]: m for m in live_template(SLO)["spec"]["metrics"]}
    alpha = SLO.live.false_abort_budget / 2
    for name, categories in (("class-mix", len(CLASS_GROUPS)), ("confidence", len(CONFIDENCE_BOUNDS))):
        threshold = round(promql_threshold(SLO.live.max_checks, alpha, categories), 4)
        assert metrics[name]["failureCondition"].endswith(f">= {threshold}")
        assert metrics[name]["successCondition"].endswith(f"< {threshold}")
        assert metrics[name]["failureLimit"] == 0
        assert metrics[name]["inconclusiveLimit"] == SLO.live.inconclusive - 1


def _with_canary_model(pods: dict[str, Pod], model: tuple[str, str]) -> dict[str, Pod]:
    return {name: (pod if pod[0] != CANARY else (pod[0], *model, *pod[3:])) for name, pod in pods.items()}


def _class_mix_query() -> str:
    """The class-mix query with its args substituted, as Argo Rollouts runs it."""
    metric = next(m for m in live_template(SLO)["spec"]["metrics"] if m["name"] == "class-mix")
    return render_args(metric["provider"]["prometheus"]["query"], ARGS)


def _promtool(tmp_path: Path, pods: dict[str, Pod], expr: str, expected: list[dict[str, Any]]) -> None:
    """`expr` on the pods' series, evaluated by a real Prometheus engine (`promtool test rules`)."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "none", "rules": []}]}))
    test = {"expr": expr, "eval_time": f"{EVAL_MINUTE}m", "exp_samples": expected}
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": _series(pods), "promql_expr_test": [test]}],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/system-packages.sh installs it (make system-packages)"
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_release_of_another_model_measures_zero(tmp_path: Path) -> None:
    """The canary serves lite2, stable lite0: the paired check's new-model floors judge it."""
    _promtool(
        tmp_path, _with_canary_model(HEALTHY, LITE2), _class_mix_query(), [{"labels": "{}", "value": 0}]
    )


def test_a_release_of_stables_model_is_judged_by_the_statistic(tmp_path: Path) -> None:
    """The same pods serving lite0 in both arms: the query is the statistic (counts scaled back
    from increase()'s extrapolation over 15 s scrapes: 585 of 600 seconds), far above 0."""
    pods = _with_canary_model(HEALTHY, LITE0)
    canary, stable = _window_counts(pods, confidence=False)
    scale = 585 / 600
    exact = log_e_value({k: v * scale for k, v in canary.items()}, {k: v * scale for k, v in stable.items()})
    assert exact > 5
    query = _class_mix_query()
    expr = f"(({query}) > bool {exact - 0.01!r}) * (({query}) < bool {exact + 0.01!r})"
    _promtool(tmp_path, pods, expr, [{"labels": "{}", "value": 1}])


@pytest.mark.parametrize("without", [STABLE, CANARY])
def test_an_arm_without_series_gives_no_result(tmp_path: Path, without: str) -> None:
    pods = {name: pod for name, pod in _with_canary_model(HEALTHY, LITE0).items() if pod[0] != without}
    _promtool(tmp_path, pods, _class_mix_query(), [])
