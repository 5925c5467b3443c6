"""Grafana dashboards as code (grafana-foundation-sdk), emitted as ConfigMaps that the Grafana
sidecar of kube-prometheus-stack loads (label grafana_dashboard=1).

Queries use only metrics the service exports (services/classifier/.../metrics.py) and the
recording rules in alerts.py; tools/tests/test_dashboards.py checks both, that every query
parses, and that each environment's error budget is measured against its own objective.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphTresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold

from gitops.alerts import (
    BURN_RATES,
    CONFIDENCE,
    CONFIDENCE_MAX_DROP,
    DRIFT_MAX_DISTANCE,
    DRIFT_OFFSET,
    DRIFT_WINDOWS,
    PREDICTIONS,
    SERVER_ERROR_CODES,
    bucket_bound,
    error_ratio,
    mean_confidence,
    prediction_drift,
    slow_ratio,
)
from gitops.durations import prometheus_duration_seconds
from gitops.paths import ENVIRONMENTS, namespace
from gitops.slo import Slo

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
RATE = "$__rate_interval"
# Each version's class-group shares over ten minutes: a canary at a small weight answers a few
# images a minute, which $__rate_interval (a minute or two) spreads over dozens of groups.
MIX_WINDOW = "10m"
# Answers the model was unsure of: top-1 probability at most this (a bucket bound of the histogram).
LOW_CONFIDENCE = 0.5


def _query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _thresholds(base: str, *steps: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Colours from `base` up, changing at each (value, colour) step."""
    return dashboard.ThresholdsConfig().steps(
        [Threshold(None, base), *(Threshold(value, colour) for value, colour in steps)]
    )


def _series(title: str, unit: str, *queries: tuple[str, str], width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(width)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _stat(
    title: str, unit: str, expr: str, thresholds: dashboard.ThresholdsConfig, decimals: int, width: int = 6
) -> stat.Panel:
    """One number, from an instant query: a range query would evaluate a 30-day window at every step."""
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .decimals(decimals)
        .thresholds(thresholds)
        .datasource(DATASOURCE)
        .height(4)
        .span(width)
        .with_target(_query(expr).instant())
    )


def _base(uid: str, title: str, description: str, by_namespace: bool = True) -> dashboard.Dashboard:
    source = dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["classifier", "model-serving"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("utc")
        .with_variable(source)
    )
    if by_namespace:
        board = board.with_variable(
            dashboard.QueryVariable("namespace")
            .label("namespace")
            .datasource(DATASOURCE)
            .query("label_values(classifier_build_info, namespace)")
            .multi(True)
            .include_all(True)
        )
    return board


def service_overview(slo: Slo) -> dashboard.Dashboard:
    routes = slo.selector(NS)
    quantile = "histogram_quantile({q}, sum by (le) (rate(classifier_http_request_duration_seconds_bucket{{{sel}}}[{r}])))"
    return (
        _base("classifier-overview", "Classifier / Service overview",
              "Traffic, errors, latency, saturation, and the model's answers against a week earlier.")
        .with_row(dashboard.Row("Traffic and errors"))
        .with_panel(
            _series("Requests by route and status", "reqps",
                    (f"sum by (route, code) (rate(classifier_http_requests_total{{{NS}}}[{RATE}]))", "{{route}} {{code}}"))
        )
        .with_panel(
            _series("5xx ratio (SLO routes)", "percentunit",
                    (f'sum(rate(classifier_http_requests_total{{{routes},code=~"{SERVER_ERROR_CODES}"}}[{RATE}])) / '
                     f"sum(rate(classifier_http_requests_total{{{routes}}}[{RATE}]))", "5xx"))
        )
        .with_row(dashboard.Row("Latency"))
        .with_panel(
            _series("Request latency (SLO routes)", "s",
                    *((quantile.format(q=q, sel=routes, r=RATE), f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)))
        )
        .with_panel(
            _series("Stages, p99", "s",
                    *((f"histogram_quantile(0.99, sum by (le) (rate(classifier_{stage}_seconds_bucket{{{NS}}}[{RATE}])))",
                       stage.removesuffix("_duration")) for stage in
                      ("decode_duration", "preprocess_duration", "queue_wait", "inference_duration")))
        )
        .with_row(dashboard.Row("Saturation"))
        .with_panel(
            _series("In flight and queued", "short",
                    (f"sum by (pod) (classifier_http_requests_in_flight{{{NS}}})", "in flight {{pod}}"),
                    (f"sum by (pod) (classifier_queue_depth{{{NS}}})", "queued {{pod}}"),
                    (f"sum by (pod) (classifier_pending_images{{{NS}}} / classifier_queue_capacity{{{NS}}})",
                     "admitted/capacity {{pod}}"))
        )
        .with_panel(
            _series("Rejections by reason", "reqps",
                    (f"sum by (reason) (rate(classifier_rejections_total{{{NS}}}[{RATE}]))", "{{reason}}"))
        )
        .with_panel(
            _series("Batch size (mean) and images computed", "short",
                    (f"sum(rate(classifier_batch_size_sum{{{NS}}}[{RATE}])) / sum(rate(classifier_batch_size_count{{{NS}}}[{RATE}]))",
                     "mean batch"),
                    (f"sum(rate(classifier_images_total{{{NS}}}[{RATE}]))", "images/s"))
        )
        .with_panel(
            _series("Model loaded, drill faults", "short",
                    (f"sum by (pod) (classifier_model_loaded{{{NS}}})", "loaded {{pod}}"),
                    (f"sum by (pod) (classifier_fault_injection_enabled{{{NS}}})", "FAULTS ON {{pod}}"))
        )
        .with_row(dashboard.Row("Model quality: against a week earlier"))
        .with_panel(
            _series(f"Class-group drift from {DRIFT_OFFSET} earlier (total variation distance; "
                    f"ticket above {DRIFT_MAX_DISTANCE:g} over {' and '.join(DRIFT_WINDOWS)})", "percentunit",
                    *((prediction_drift(window, NS), f"{window} {{{{namespace}}}}") for window in DRIFT_WINDOWS))
            .thresholds(_thresholds("green", (DRIFT_MAX_DISTANCE, "red")))
            .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED))
        )
        .with_panel(
            _series(f"Mean confidence, {DRIFT_WINDOWS[0]}, now and {DRIFT_OFFSET} earlier "
                    f"(ticket {CONFIDENCE_MAX_DROP:g} lower over {' and '.join(DRIFT_WINDOWS)})", "percentunit",
                    (mean_confidence(DRIFT_WINDOWS[0], "", NS), "now {{namespace}}"),
                    (mean_confidence(DRIFT_WINDOWS[0], DRIFT_OFFSET, NS), f"{DRIFT_OFFSET} earlier {{{{namespace}}}}"))
        )
    )  # fmt: skip


def canary_vs_stable(slo: Slo) -> dashboard.Dashboard:
    routes = slo.selector(NS)
    by_hash = "sum by (rollouts_pod_template_hash)"
    return (
        _base("classifier-canary", "Classifier / Canary vs stable",
              "Each ReplicaSet of the Rollout side by side, by pod-template hash (what the canary analysis reads).")
        .with_panel(
            _series("Requests by version", "reqps",
                    (f"{by_hash} (rate(classifier_http_requests_total{{{routes}}}[{RATE}]))", "{{rollouts_pod_template_hash}}"))
        )
        .with_panel(
            _series(f"5xx ratio by version (canary fails above {slo.canary_max_error_rate:g})", "percentunit",
                    (f'{by_hash} (rate(classifier_http_requests_total{{{routes},code=~"{SERVER_ERROR_CODES}"}}[{RATE}])) / '
                     f"{by_hash} (rate(classifier_http_requests_total{{{routes}}}[{RATE}]))", "{{rollouts_pod_template_hash}}"))
        )
        .with_panel(
            _series(f"p99 latency by version (canary fails above {slo.latency_threshold_seconds:g}s)", "s",
                    (f"histogram_quantile(0.99, sum by (rollouts_pod_template_hash, le) "
                     f"(rate(classifier_http_request_duration_seconds_bucket{{{routes}}}[{RATE}])))",
                     "{{rollouts_pod_template_hash}}"), width=24)
        )
        .with_row(dashboard.Row("Model quality"))
        .with_panel(
            _series("Mean confidence by version", "percentunit",
                    (f"{by_hash} (rate({CONFIDENCE}_sum{{{NS}}}[{RATE}]))\n"
                     f"/ {by_hash} (rate({CONFIDENCE}_count{{{NS}}}[{RATE}]))", "{{rollouts_pod_template_hash}}"))
        )
        .with_panel(
            _series(f"Answers with confidence at most {LOW_CONFIDENCE:g} by version", "percentunit",
                    (f'{by_hash} (rate({CONFIDENCE}_bucket{{{NS},le="{bucket_bound(LOW_CONFIDENCE)}"}}[{RATE}]))\n'
                     f"/ {by_hash} (rate({CONFIDENCE}_count{{{NS}}}[{RATE}]))", "{{rollouts_pod_template_hash}}"))
        )
        .with_panel(
            _series(f"Class-group share by version, {MIX_WINDOW} (each version's top 8 groups)", "percentunit",
                    (f"topk by (rollouts_pod_template_hash) (8,\n"
                     f"  sum by (rollouts_pod_template_hash, class_group) (increase({PREDICTIONS}{{{NS}}}[{MIX_WINDOW}]))\n"
                     f"  / ignoring (class_group) group_left\n"
                     f"  {by_hash} (increase({PREDICTIONS}{{{NS}}}[{MIX_WINDOW}]))\n)",
                     "{{rollouts_pod_template_hash}} group {{class_group}}"), width=24)
        )
    )  # fmt: skip


def _objectives(slo: Slo, ns: str) -> tuple[float, float]:
    """An environment's (availability, latency) targets: its own in slos.yaml, else the defaults."""
    return slo.overrides.get(ns, (slo.availability_target, slo.latency_target))


def window_ratio(slo: Slo, sli: str, ns: str) -> str:
    """The share of bad requests ("errors" or "slow") in one namespace over the whole SLO window:
    the recording rules' own expression (alerts.error_ratio / slow_ratio) over the window, narrowed
    to the namespace, so the dashboard's SLI is the alerts' SLI. Prometheus keeps the whole window
    (retention 30d, platform/kube-prometheus-stack.yaml)."""
    return (error_ratio if sli == "errors" else slow_ratio)(slo, slo.window, f'namespace="{ns}"')


def _percent(ratio: float) -> str:
    return f"{round(ratio * 100, 6):g}%"


def _burn_thresholds() -> dashboard.ThresholdsConfig:
    """The alerts' own burn rates (alerts.BURN_RATES): ticket from the lowest, page from the others."""
    page = sorted({rate for severity, rate, _, _ in BURN_RATES if severity == "page"})
    ticket = min(rate for severity, rate, _, _ in BURN_RATES if severity == "ticket")
    return _thresholds("green", (ticket, "yellow"), *((rate, "red") for rate in page))


def _environment(board: dashboard.Dashboard, slo: Slo, ns: str) -> dashboard.Dashboard:
    """One row per environment, every number against that environment's own objectives."""
    availability, latency = _objectives(slo, ns)
    budgets = {"errors": round(1.0 - availability, 8), "slow": round(1.0 - latency, 8)}
    window, threshold = slo.window, f"{slo.latency_threshold_seconds * 1000:g} ms"
    burn = _burn_thresholds()
    pages = " / ".join(f"{rate:g}" for severity, rate, _, _ in BURN_RATES if severity == "page")
    left = _thresholds("red", (0.0, "orange"), (0.25, "green"))
    return (
        board.with_row(dashboard.Row(f"{ns}: {_percent(availability)} available, {_percent(latency)} within {threshold}"))
        .with_panel(_stat(f"Availability, {window} (objective {_percent(availability)})", "percentunit",
                          f"1 - ({window_ratio(slo, 'errors', ns)})", _thresholds("red", (availability, "green")), 3))
        .with_panel(_stat(f"Error budget left, {window} (budget {_percent(budgets['errors'])})", "percentunit",
                          f"1 - ({window_ratio(slo, 'errors', ns)}) / {budgets['errors']:g}", left, 1))
        .with_panel(_stat(f"Within {threshold}, {window} (objective {_percent(latency)})", "percentunit",
                          f"1 - ({window_ratio(slo, 'slow', ns)})", _thresholds("red", (latency, "green")), 2))
        .with_panel(_stat(f"Latency budget left, {window} (budget {_percent(budgets['slow'])})", "percentunit",
                          f"1 - ({window_ratio(slo, 'slow', ns)}) / {budgets['slow']:g}", left, 1))
        .with_panel(
            _series(f"Availability burn rate (1 = budget {_percent(budgets['errors'])} spent in {window}; page at {pages})", "short",
                    *((f'classifier:slo_errors:ratio_rate{w}{{namespace="{ns}"}} / {budgets["errors"]:g}', w)
                      for w in ("5m", "1h", "6h", "3d")))
            .thresholds(burn)
            .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED))
        )
        .with_panel(
            _series(f"Latency burn rate (1 = budget {_percent(budgets['slow'])} spent in {window}; page at {pages})", "short",
                    *((f'classifier:slo_slow:ratio_rate{w}{{namespace="{ns}"}} / {budgets["slow"]:g}', w)
                      for w in ("5m", "1h", "6h", "3d")))
            .thresholds(burn)
            .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED))
        )
    )  # fmt: skip


def slo_budget(slo: Slo) -> dashboard.Dashboard:
    history = prometheus_duration_seconds(slo.window)
    board = (
        _base("classifier-slo", "Classifier / SLO and error budget",
              f"Per environment, over the {slo.window} SLO window, against that environment's own objectives "
              f"(platform/slo/slos.yaml): what is left of the error budget, and how fast it burns (1 = the "
              f"whole budget in {slo.window}). The budget needs {slo.window} of history in Prometheus.",
              by_namespace=False)
        .with_panel(_stat(f"Prometheus history (the budget needs {slo.window})", "s",
                          "min(time() - prometheus_tsdb_lowest_timestamp_seconds)",
                          _thresholds("red", (history, "green")), 1, width=24))
    )  # fmt: skip
    for environment in ENVIRONMENTS:
        board = _environment(board, slo, namespace(environment))
    return board


def gpu(slo: Slo) -> dashboard.Dashboard:
    return (
        _base("classifier-gpu", "Classifier / GPU", "GPU utilisation and memory (pods of the runtime-gpu image only).")
        .with_panel(_series("GPU utilisation", "percentunit",
                            (f"max by (pod, gpu) (classifier_gpu_utilization_ratio{{{NS}}})", "{{pod}} gpu {{gpu}}")))
        .with_panel(_series("GPU memory used", "percentunit",
                            (f"max by (pod, gpu) (classifier_gpu_memory_used_bytes{{{NS}}} / classifier_gpu_memory_total_bytes{{{NS}}})",
                             "{{pod}} gpu {{gpu}}")))
        .with_panel(_series("Batch size (mean)", "short",
                            (f"sum(rate(classifier_batch_size_sum{{{NS}}}[{RATE}])) / sum(rate(classifier_batch_size_count{{{NS}}}[{RATE}]))",
                             "mean batch")), )
    )  # fmt: skip


DASHBOARDS: dict[str, Callable[[Slo], dashboard.Dashboard]] = {
    "classifier-overview": service_overview,
    "classifier-canary": canary_vs_stable,
    "classifier-slo": slo_budget,
    "classifier-gpu": gpu,
}


def dashboard_json(name: str, slo: Slo) -> dict[str, Any]:
    built = DASHBOARDS[name](slo).build()
    return dict(json.loads(JSONEncoder(sort_keys=True, indent=2).encode(built)))


def configmap(name: str) -> Callable[[Slo], dict[str, Any]]:
    def make(slo: Slo) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"dashboard-{name}",
                "namespace": "monitoring",
                "labels": {"grafana_dashboard": "1"},
            },
            "data": {f"{name}.json": json.dumps(dashboard_json(name, slo), indent=2, sort_keys=True) + "\n"},
        }

    return make


def queries(document: dict[str, Any]) -> Iterator[str]:
    """Every PromQL expression in a dashboard's panels and variables."""
    for panel in document.get("panels", []):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield str(target["expr"])
