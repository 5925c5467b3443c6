"""Argo Rollouts' metrics through a real Prometheus scraping them as prometheus-operator does for
the chart's ServiceMonitor: with the metricRelabelings of platform/argo-rollouts.yaml the rollout
alerts name the Rollout's namespace, without them the controller's (issue #12, item 5). The
alert scenarios' label sets are checked against what the scrape really produces. A few seconds."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from classifier_testkit.ports import free_port
from gitops.alert_drill.exporters import CONTROLLER_TARGET_LABELS, rollouts_metric_relabelings
from gitops.alert_drill.webhook import Exchange, serving
from gitops.drill_stack import prometheus_command, series, stop_process, wait_for
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import SCENARIOS, alert_rules

# What argo-rollouts v1.8.3 serves on /metrics: label names from controller/metrics/prommetrics.go,
# values from rollouts.go (calculatePhase) and analysis.go (six phase series per metric), written
# sorted by client_golang. dev has no traffic router (the controller writes traffic_router="").
_PHASES = ("Pending", "Running", "Successful", "Failed", "Error", "Inconclusive")
_ROLLOUTS = (
    ("classifier-dev", "Completed", ""),
    ("classifier-prod", "Abort", "Nginx"),
    ("classifier-staging", "Completed", "Nginx"),
)
CONTROLLER_METRICS = "\n".join(
    [
        "# HELP rollout_info Information about rollout.",
        "# TYPE rollout_info gauge",
        *(
            f'rollout_info{{name="classifier",namespace="{namespace}",phase="{phase}",strategy="canary",'
            f'traffic_router="{router}"}} 1'
            for namespace, phase, router in _ROLLOUTS
        ),
        "# HELP analysis_run_metric_phase Information on the duration of a specific metric in the "
        "Analysis Run",
        "# TYPE analysis_run_metric_phase gauge",
        *(
            f'analysis_run_metric_phase{{dry_run="false",metric="{metric}",name="classifier-5d8c7f9b-3-4",'
            f'namespace="classifier-prod",phase="{phase}",type="Prometheus"}} {int(phase == measured)}'
            for metric, measured in (("error-rate", "Failed"), ("latency-p99", "Successful"))
            for phase in _PHASES
        ),
        "# HELP argo_rollouts_controller_info Running Argo-rollouts version",
        "# TYPE argo_rollouts_controller_info gauge",
        'argo_rollouts_controller_info{version="v1.8.3"} 1',
        "",
    ]
)
_SERIES_LABEL = re.compile(r'(\w+)="[^"]*"')


@dataclass(frozen=True, slots=True)
class Controller:
    """The controller's /metrics: CONTROLLER_METRICS on every scrape."""

    def scrape(self) -> tuple[int, bytes]:
        return 200, CONTROLLER_METRICS.encode()


@contextlib.contextmanager
def scraping_prometheus(target: str, relabel_configs: list[dict[str, Any]], workdir: Path) -> Iterator[str]:
    """A Prometheus scraping `target` as the operator would; yields its URL once a scrape landed."""
    job: dict[str, Any] = {
        "job_name": "serviceMonitor/argo-rollouts/argo-rollouts/0",
        "honor_labels": False,
        "static_configs": [
            {"targets": [target], "labels": CONTROLLER_TARGET_LABELS | {"__metrics_path__": "/metrics"}}
        ],
    }
    if relabel_configs:
        job["metric_relabel_configs"] = relabel_configs
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": [job]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    prometheus = f"http://{address}"
    log = workdir / "prometheus.log"
    with log.open("wb") as output:
        command = prometheus_command(workdir / "prometheus.yml", workdir / "tsdb", address)
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            scraped = 'up{job="argo-rollouts-metrics"} == 1'
            try:
                wait_for(lambda: bool(series(prometheus, scraped)), 30, "the first scrape of the controller")
            except TimeoutError as error:
                raise TimeoutError(f"{error}; Prometheus's log ends:\n{log.read_text()[-3000:]}") from None
            yield prometheus
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def controller() -> Iterator[str]:
    exchange = Exchange(targets={"/metrics": Controller()})
    with serving(exchange) as target:
        yield target


@pytest.fixture(scope="module")
def fixed(controller: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus with the ServiceMonitor's metricRelabelings, as shipped."""
    with scraping_prometheus(
        controller, rollouts_metric_relabelings(), tmp_path_factory.mktemp("fixed")
    ) as url:
        yield url


@pytest.fixture(scope="module")
def unfixed(controller: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus without them: the scrape before issue #12's fix."""
    with scraping_prometheus(controller, [], tmp_path_factory.mktemp("unfixed")) as url:
        yield url


def alert_expression(alert: str) -> str:
    return str(alert_rules(REPO_ROOT)[alert]["expr"])


def labels_of(prometheus: str, promql: str) -> list[dict[str, str]]:
    return sorted(
        (series["metric"] for series in series(prometheus, promql)), key=lambda m: sorted(m.items())
    )


def test_relabelled_scrape_keeps_each_rollouts_namespace(fixed: str) -> None:
    series = labels_of(fixed, "rollout_info")
    assert [s["namespace"] for s in series] == ["classifier-dev", "classifier-prod", "classifier-staging"]
    assert all("exported_namespace" not in s for s in series), series
    assert labels_of(fixed, alert_expression("ClassifierRolloutAborted")) == [
        {"namespace": "classifier-prod", "name": "classifier"}
    ]
    assert labels_of(fixed, alert_expression("ClassifierCanaryAnalysisFailing")) == [
        {"namespace": "classifier-prod", "name": "classifier-5d8c7f9b-3-4", "metric": "error-rate"}
    ]


def test_controllers_own_metrics_keep_its_namespace(fixed: str) -> None:
    """The relabelling must not blank `namespace` on series that never had one."""
    [info] = labels_of(fixed, "argo_rollouts_controller_info")
    assert info["namespace"] == "argo-rollouts"
    assert "exported_namespace" not in info


def test_without_the_relabelling_alerts_name_the_controllers_namespace(unfixed: str) -> None:
    series = labels_of(unfixed, 'rollout_info{phase="Abort"}')
    assert [(s["namespace"], s["exported_namespace"]) for s in series] == [
        ("argo-rollouts", "classifier-prod")
    ]
    assert labels_of(unfixed, alert_expression("ClassifierRolloutAborted")) == [
        {"namespace": "argo-rollouts", "name": "classifier"}
    ]


def test_alert_scenarios_use_the_label_names_the_scrape_produces(fixed: str, unfixed: str) -> None:
    """Each rollout or analysis series in the promtool scenarios has the label names of a series
    the real scrape produced: with the relabelling, or (labelled exported_namespace) without it."""
    metrics = ("rollout_info", "analysis_run_metric_phase")
    scraped = {
        url: {frozenset(series) for metric in metrics for series in labels_of(url, metric)}
        for url in (fixed, unfixed)
    }
    scenarios = yaml.safe_load((REPO_ROOT / SCENARIOS).read_text())
    checked = 0
    for scenario in scenarios:
        for item in scenario["input_series"]:
            name, _, labels = item["series"].partition("{")
            if name not in metrics:
                continue
            names = frozenset({"__name__", *_SERIES_LABEL.findall(labels)})
            url = unfixed if "exported_namespace" in names else fixed
            assert names in scraped[url], f"{scenario['name']}: {item['series']}"
            checked += 1
    assert checked > 0
