"""Dashboards: regenerated JSON matches what is committed (test_generate), every query parses,
every query names only metrics the service exports or rules the platform records, and each
environment's error budget is its own: its objective from slos.yaml, measured by Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from classifier.gpu_metrics import METRIC_NAMES as GPU_METRICS
from classifier.metrics import ServiceMetrics
from gitops.dashboards import DASHBOARDS, queries
from gitops.paths import ENVIRONMENTS, REPO_ROOT, namespace
from gitops.promtool_tests import RULES

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "prod"}
_METRIC = re.compile(r"\b(classifier[a-zA-Z0-9_:]*)\b")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAMESPACE = re.compile(r'namespace="([^"]+)"')


def exported_metrics() -> set[str]:
    names = {sample.name for family in ServiceMetrics().registry.collect() for sample in family.samples}
    # Histograms expose _bucket/_sum/_count; labelled metrics with no child yet show no sample.
    families = {family.name for family in ServiceMetrics().registry.collect()}
    suffixes = ("", "_total", "_bucket", "_sum", "_count", "_created")
    return names | {family + suffix for family in families for suffix in suffixes} | set(GPU_METRICS)


def recorded_series() -> set[str]:
    spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
    return {rule["record"] for group in spec["groups"] for rule in group["rules"] if "record" in rule}


def dashboard_documents() -> dict[str, dict[str, Any]]:
    documents = {}
    for name in DASHBOARDS:
        configmap = yaml.safe_load((REPO_ROOT / f"platform/dashboards/{name}.yaml").read_text())
        assert configmap["metadata"]["labels"] == {"grafana_dashboard": "1"}
        documents[name] = json.loads(configmap["data"][f"{name}.json"])
    return documents


def _substituted(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def test_every_dashboard_has_panels_with_queries() -> None:
    for name, document in dashboard_documents().items():
        assert document["uid"] == name
        assert len(list(queries(document))) >= 3, name


def test_every_query_parses(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/system-packages.sh installs it (make system-packages)"
    rules = [
        {"record": f"dashboard:query_{index}", "expr": _substituted(expr)}
        for index, expr in enumerate(e for d in dashboard_documents().values() for e in queries(d))
    ]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "queries.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", list(DASHBOARDS))
def test_queries_name_only_exported_metrics(name: str) -> None:
    known = exported_metrics() | recorded_series()
    document = dashboard_documents()[name]
    for expr in queries(document):
        unknown = set(_METRIC.findall(_STRING.sub('""', expr))) - known
        assert not unknown, f"{name}: {expr} names {unknown}, which the service does not export"


def test_the_check_catches_a_misspelt_metric() -> None:
    known = exported_metrics() | recorded_series()
    assert set(_METRIC.findall("rate(classifier_http_request_total[5m])")) - known == {
        "classifier_http_request_total"
    }
    # Label values are not metric names: namespace="classifier-dev" names nothing.
    assert not set(_METRIC.findall(_STRING.sub('""', 'x{namespace="classifier-dev"}'))) - known


# The SLO dashboard, per environment. Its panels are found by title and by the namespace their
# queries select; the objectives are read from slos.yaml here, not from the generator's helpers.
SLO_FILE = REPO_ROOT / "platform/slo/slos.yaml"
# (title prefix, SLI): which panel shows what, and of which SLI
SLO_PANELS = {
    "Availability,": "errors",
    "Error budget left": "errors",
    "Within": "slow",
    "Latency budget left": "slow",
    "Availability burn rate": "errors",
    "Latency burn rate": "slow",
}
# The scenario every environment gets, per minute: the same traffic, 0.5% of it 5xx (fast) and
# 4% of the successful answers slower than the threshold. The latency SLI counts successful
# answers only (the histogram's `outcome`), so the fast errors do not make it look better.
PER_MINUTE = {"fast": 1910, "slow": 80, "errors": 10}
ERROR_SHARE = PER_MINUTE["errors"] / sum(PER_MINUTE.values())
SLOW_SHARE = PER_MINUTE["slow"] / (PER_MINUTE["fast"] + PER_MINUTE["slow"])


def declared_objectives() -> dict[str, tuple[float, float]]:
    """Namespace -> (availability, latency) target, as platform/slo/slos.yaml declares them."""
    raw = yaml.safe_load(SLO_FILE.read_text())
    availability = raw["objectives"]["availability"]["target"]
    latency = raw["objectives"]["latency"]["target"]
    overrides = raw.get("environments") or {}
    return {
        namespace(env): (
            float(overrides.get(namespace(env), {}).get("availability_target", availability)),
            float(overrides.get(namespace(env), {}).get("latency_target", latency)),
        )
        for env in ENVIRONMENTS
    }


def environment_panels() -> dict[str, dict[str, dict[str, Any]]]:
    """Namespace -> title prefix -> the SLO dashboard's panel for it."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for panel in dashboard_documents()["classifier-slo"]["panels"]:
        selected = {ns for target in panel.get("targets", []) for ns in _NAMESPACE.findall(target["expr"])}
        prefix = next((p for p in SLO_PANELS if panel["title"].startswith(p)), None)
        if prefix and selected:
            assert len(selected) == 1, f"{panel['title']} mixes environments: {selected}"
            found.setdefault(selected.pop(), {})[prefix] = panel
    return found


def _green_from(panel: dict[str, Any]) -> float:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return float(next(step["value"] for step in steps if step["color"] == "green"))


def test_each_environment_has_its_budget_row_with_its_own_objective() -> None:
    objectives = declared_objectives()
    panels = environment_panels()
    assert set(panels) == set(objectives)
    for ns, (availability, latency) in objectives.items():
        assert set(panels[ns]) == set(SLO_PANELS), ns
        assert _green_from(panels[ns]["Availability,"]) == availability, ns
        assert _green_from(panels[ns]["Within"]) == latency, ns
        for prefix in ("Availability,", "Error budget left", "Within", "Latency budget left"):
            expr = panels[ns][prefix]["targets"][0]["expr"]
            assert "[30d]" in expr or "ratio_rate30d" in expr, f"{ns}: {prefix} is not over 30 days: {expr}"
    # slos.yaml gives dev a looser objective: its panels must say so, not borrow prod's.
    assert objectives["classifier-dev"] != objectives["classifier-prod"]
    dev, prod = panels["classifier-dev"]["Availability,"], panels["classifier-prod"]["Availability,"]
    assert _green_from(dev) != _green_from(prod)


def _expected(prefix: str, availability: float, latency: float) -> float:
    """What a panel must show in the scenario, computed from the objective alone."""
    errors = SLO_PANELS[prefix] == "errors"
    bad, budget = (ERROR_SHARE, 1 - availability) if errors else (SLOW_SHARE, 1 - latency)
    if prefix.endswith("burn rate"):
        return bad / budget
    if prefix.endswith("budget left"):
        return 1 - bad / budget
    return 1 - bad


def _scenario_series() -> list[dict[str, str]]:
    """Two hours of the scenario in every environment, labelled as the service and the scrape
    label them (`le` as the Python client writes a float bound)."""
    bound = repr(float(yaml.safe_load(SLO_FILE.read_text())["objectives"]["latency"]["threshold_seconds"]))
    fast, slow, errors = PER_MINUTE["fast"], PER_MINUTE["slow"], PER_MINUTE["errors"]
    series = []
    for env in ENVIRONMENTS:
        labels = f'namespace="{namespace(env)}",route="/v1/classify",method="POST"'
        ok, failed = f'{labels},outcome="success"', f'{labels},outcome="error"'
        per_minute = {
            f'classifier_http_requests_total{{{labels},code="200"}}': fast + slow,
            f'classifier_http_requests_total{{{labels},code="500"}}': errors,
            f'classifier_http_request_duration_seconds_bucket{{{ok},le="{bound}"}}': fast,
            f'classifier_http_request_duration_seconds_bucket{{{ok},le="+Inf"}}': fast + slow,
            f"classifier_http_request_duration_seconds_count{{{ok}}}": fast + slow,
            f'classifier_http_request_duration_seconds_bucket{{{failed},le="{bound}"}}': errors,
            f'classifier_http_request_duration_seconds_bucket{{{failed},le="+Inf"}}': errors,
            f"classifier_http_request_duration_seconds_count{{{failed}}}": errors,
        }
        series += [{"series": name, "values": f"0+{count}x120"} for name, count in per_minute.items()]
    return series


def test_each_environment_spends_its_own_budget(tmp_path: Path) -> None:
    """The same 0.5% of errors leaves dev (budget 1%) half its budget and overspends prod's
    (0.1%) four times over: every panel of every environment row evaluated by promtool, over the
    generated recording rules, against the value its own objective gives."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/system-packages.sh installs it (make system-packages)"
    spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": spec["groups"]}))
    objectives = declared_objectives()
    assert round(_expected("Error budget left", *objectives["classifier-dev"]), 4) == 0.5
    assert round(_expected("Error budget left", *objectives["classifier-prod"]), 4) == -4.0
    checks = [
        {
            "expr": f"round({target['expr']}, 0.0001)",
            "eval_time": "120m",
            "exp_samples": [
                {"labels": f'{{namespace="{ns}"}}', "value": round(_expected(prefix, *objectives[ns]), 4)}
            ],
        }
        for ns, panels in environment_panels().items()
        for prefix, panel in panels.items()
        for target in panel["targets"]
    ]
    assert len(checks) >= len(objectives) * len(SLO_PANELS), "the SLO dashboard lost its environment rows"
    tests = {"interval": "1m", "input_series": _scenario_series(), "promql_expr_test": checks}
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [tests]})
    )
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
