"""Grafana dashboards as code (grafana-foundation-sdk), emitted as ConfigMaps that the Grafana
sidecar of kube-prometheus-stack loads (label grafana_dashboard=1).

Queries use only metrics the service exports (services/classifier/.../metrics.py) and the
recording rules in alerts.py; tools/tests/test_dashboards.py checks both, and that every
query parses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from gitops.slo import Slo

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
RATE = "$__rate_interval"


def _query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _series(title: str, unit: str, *queries: tuple[str, str], width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(width)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _stat(title: str, unit: str, expr: str, width: int = 6) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(4)
        .span(width)
        .with_target(_query(expr))
    )


def _base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    namespace = (
        dashboard.QueryVariable("namespace")
        .label("namespace")
        .datasource(DATASOURCE)
        .query("label_values(classifier_build_info, namespace)")
        .multi(True)
        .include_all(True)
    )
    source = dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["classifier", "model-serving"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("utc")
        .with_variable(source)
        .with_variable(namespace)
    )


def service_overview(slo: Slo) -> dashboard.Dashboard:
    routes = slo.selector(NS)
    quantile = "histogram_quantile({q}, sum by (le) (rate(classifier_http_request_duration_seconds_bucket{{{sel}}}[{r}])))"
    return (
        _base("classifier-overview", "Classifier / Service overview", "Traffic, errors, latency and saturation.")
        .with_row(dashboard.Row("Traffic and errors"))
        .with_panel(
            _series("Requests by route and status", "reqps",
                    (f"sum by (route, code) (rate(classifier_http_requests_total{{{NS}}}[{RATE}]))", "{{route}} {{code}}"))
        )
        .with_panel(
            _series("5xx ratio (SLO routes)", "percentunit",
                    (f'sum(rate(classifier_http_requests_total{{{routes},code=~"5.."}}[{RATE}])) / '
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
                    (f'{by_hash} (rate(classifier_http_requests_total{{{routes},code=~"5.."}}[{RATE}])) / '
                     f"{by_hash} (rate(classifier_http_requests_total{{{routes}}}[{RATE}]))", "{{rollouts_pod_template_hash}}"))
        )
        .with_panel(
            _series(f"p99 latency by version (canary fails above {slo.latency_threshold_seconds:g}s)", "s",
                    (f"histogram_quantile(0.99, sum by (rollouts_pod_template_hash, le) "
                     f"(rate(classifier_http_request_duration_seconds_bucket{{{routes}}}[{RATE}])))",
                     "{{rollouts_pod_template_hash}}"), width=24)
        )
    )  # fmt: skip


def slo_budget(slo: Slo) -> dashboard.Dashboard:
    budget = slo.error_budget
    latency_budget = 1 - slo.latency_target
    return (
        _base("classifier-slo", "Classifier / SLO and error budget",
              f"Availability {slo.availability_target:.1%} and {slo.latency_target:.0%} within "
              f"{slo.latency_threshold_seconds:g}s over {slo.window} (platform/slo/slos.yaml).")
        .with_panel(_stat("Availability, 3 days", "percentunit", f"1 - max(classifier:slo_errors:ratio_rate3d{{{NS}}})"))
        .with_panel(_stat("Error budget left (3-day pace)", "percentunit",
                          f"1 - max(classifier:slo_errors:ratio_rate3d{{{NS}}}) / {budget:g}"))
        .with_panel(_stat("Within threshold, 3 days", "percentunit", f"1 - max(classifier:slo_slow:ratio_rate3d{{{NS}}})"))
        .with_panel(_stat("Latency budget left (3-day pace)", "percentunit",
                          f"1 - max(classifier:slo_slow:ratio_rate3d{{{NS}}}) / {latency_budget:g}"))
        .with_panel(
            _series("Availability burn rate (page at 14.4 / 6)", "short",
                    *((f"max by (namespace) (classifier:slo_errors:ratio_rate{w}{{{NS}}}) / {budget:g}", f"{w} {{{{namespace}}}}")
                      for w in ("5m", "1h", "6h", "3d")))
        )
        .with_panel(
            _series("Latency burn rate (page at 14.4 / 6)", "short",
                    *((f"max by (namespace) (classifier:slo_slow:ratio_rate{w}{{{NS}}}) / {latency_budget:g}", f"{w} {{{{namespace}}}}")
                      for w in ("5m", "1h", "6h", "3d")))
        )
    )  # fmt: skip


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
