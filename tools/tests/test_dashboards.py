"""Dashboards: regenerated JSON matches what is committed (test_generate), every query parses,
and every query names only metrics the service exports or rules the platform records."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from classifier.gpu_metrics import METRIC_NAMES as GPU_METRICS
from classifier.metrics import ServiceMetrics
from gitops.dashboards import DASHBOARDS, queries
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "prod"}
_METRIC = re.compile(r"\b(classifier[a-zA-Z0-9_:]*)\b")


def exported_metrics() -> set[str]:
    names = {sample.name for family in ServiceMetrics().registry.collect() for sample in family.samples}
    # Histograms expose _bucket/_sum/_count; labelled metrics with no child yet show no sample.
    families = {family.name for family in ServiceMetrics().registry.collect()}
    suffixes = ("", "_total", "_bucket", "_sum", "_count", "_created")
    return names | {family + suffix for family in families for suffix in suffixes} | set(GPU_METRICS)


def recorded_series() -> set[str]:
    spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
    return {rule["record"] for group in spec["groups"] for rule in group["rules"] if "record" in rule}


def dashboard_documents() -> dict[str, dict[str, object]]:
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
    assert promtool, "promtool is missing: .ci/run installs Debian's prometheus package"
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
        unknown = set(_METRIC.findall(expr)) - known
        assert not unknown, f"{name}: {expr} names {unknown}, which the service does not export"


def test_the_check_catches_a_misspelt_metric() -> None:
    known = exported_metrics() | recorded_series()
    assert set(_METRIC.findall("rate(classifier_http_request_total[5m])")) - known == {
        "classifier_http_request_total"
    }
