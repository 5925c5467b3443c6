"""Prometheus recording rules and alerts, generated from the SLO declaration.

SLO alerts are the multi-window, multi-burn-rate alerts of the Google SRE workbook
(https://sre.google/workbook/alerting-on-slos/, table 5-8): page when the error budget burns
14.4x over 1h (confirmed over 5m) or 6x over 6h (confirmed over 30m); ticket at 1x over 3d
(confirmed over 6h). The other alerts watch saturation, pod health, the model, the delivery
(Argo Rollouts' own metrics) and the GPU. Every alert links its runbook in runbooks/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gitops.slo import Slo

RUNBOOK_BASE = "https://github.com/model-serving-gitops/model-serving-gitops/blob/main/runbooks"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, burn rate, long window, short window)
BURN_RATES = (("page", 14.4, "1h", "5m"), ("page", 6.0, "6h", "30m"), ("ticket", 1.0, "3d", "6h"))


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str = "0m"

    @property
    def runbook(self) -> str:
        """runbooks/<slug>.md: the alert name without the prefix, in kebab case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", self.name.removeprefix("Classifier")).lower()

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, "service": "classifier"}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{RUNBOOK_BASE}/{self.runbook}.md",
        }
        return rule


def error_ratio(slo: Slo, window: str) -> str:
    selector = slo.selector()
    good = f'classifier_http_requests_total{{{selector},code!~"5.."}}'
    total = f"classifier_http_requests_total{{{selector}}}"
    return (
        f"1 - (sum by (namespace) (rate({good}[{window}]))\n  / sum by (namespace) (rate({total}[{window}])))"
    )


def slow_ratio(slo: Slo, window: str) -> str:
    selector = slo.selector()
    bound = f'le="{slo.latency_threshold_seconds:g}"'
    fast = f"classifier_http_request_duration_seconds_bucket{{{selector},{bound}}}"
    total = f"classifier_http_request_duration_seconds_count{{{selector}}}"
    return (
        f"1 - (sum by (namespace) (rate({fast}[{window}]))\n  / sum by (namespace) (rate({total}[{window}])))"
    )


def recording_rules(slo: Slo) -> list[dict[str, str]]:
    return [
        {"record": f"classifier:slo_{sli}:ratio_rate{window}", "expr": ratio(slo, window)}
        for sli, ratio in (("errors", error_ratio), ("slow", slow_ratio))
        for window in WINDOWS
    ]


def _burn_alerts(slo: Slo, sli: str, budget: float, label: str, scope: str) -> list[Alert]:
    """Page and ticket alerts for one SLI over the namespaces `scope` selects."""

    def condition(rate: float, long: str, short: str) -> str:
        threshold = round(rate * budget, 8)
        return (
            f"(classifier:slo_{sli}:ratio_rate{long}{{{scope}}} > {threshold:g}"
            f" and classifier:slo_{sli}:ratio_rate{short}{{{scope}}} > {threshold:g})"
        )

    page = [condition(rate, long, short) for severity, rate, long, short in BURN_RATES if severity == "page"]
    ticket = [
        condition(rate, long, short) for severity, rate, long, short in BURN_RATES if severity == "ticket"
    ]
    name = f"Classifier{label}BudgetBurn"
    what = (
        "requests failing (5xx)"
        if sli == "errors"
        else f"requests slower than {slo.latency_threshold_seconds:g}s"
    )
    return [
        Alert(
            name,
            "\nor\n".join(page),
            "page",
            f"{label} error budget burning fast in {{{{ $labels.namespace }}}}",
            f"The share of {what} in {{{{ $labels.namespace }}}} would spend the {slo.window} error budget "
            f"in days: 14.4x over 1h or 6x over 6h (budget {budget:g}).",
            "2m",
        ),
        Alert(
            f"{name}Slow",
            ticket[0],
            "ticket",
            f"{label} error budget burning steadily in {{{{ $labels.namespace }}}}",
            f"The share of {what} in {{{{ $labels.namespace }}}} is above budget over 3 days (1x burn, "
            f"budget {budget:g}).",
            "1h",
        ),
    ]


def _slo_alerts(slo: Slo) -> list[Alert]:
    """Burn alerts for the default objectives, and for each environment that has its own."""
    overridden = "|".join(slo.overrides)
    scopes = [
        (f'namespace!~"{overridden}"' if overridden else "", slo.availability_target, slo.latency_target)
    ]
    scopes += [
        (f'namespace="{ns}"', availability, latency) for ns, (availability, latency) in slo.overrides.items()
    ]
    return [
        alert
        for scope, availability, latency in scopes
        for alert in (
            *_burn_alerts(slo, "errors", round(1.0 - availability, 8), "Availability", scope),
            *_burn_alerts(slo, "slow", round(1.0 - latency, 8), "Latency", scope),
        )
    ]


def alerts(slo: Slo) -> list[Alert]:
    return [
        *_slo_alerts(slo),
        Alert(
            "ClassifierQueueNearCapacity",
            "max by (namespace, pod) (classifier_pending_images / classifier_queue_capacity) > 0.8",
            "ticket",
            "{{ $labels.pod }} is near its admission capacity",
            "More than 80% of the images the pod admits at once are in its pipeline; more load gets 429s.",
            "10m",
        ),
        Alert(
            "ClassifierRejectingRequests",
            "sum by (namespace) (rate(classifier_rejections_total[5m])) > 1",
            "page",
            "Requests are being refused in {{ $labels.namespace }}",
            "More than one request a second is answered 429 (queue full) or 504 (deadline) without being "
            "computed: the service is saturated.",
            "5m",
        ),
        Alert(
            "ClassifierPodsNotReady",
            'sum by (namespace) (kube_pod_status_ready{condition="false", pod=~"classifier-.*"}) > 0',
            "ticket",
            "Classifier pods are not ready in {{ $labels.namespace }}",
            "Some classifier pods have been unready for 10 minutes: they get no traffic.",
            "10m",
        ),
        Alert(
            "ClassifierPodRestarting",
            'increase(kube_pod_container_status_restarts_total{container="classifier"}[15m]) > 2',
            "page",
            "{{ $labels.pod }} is restarting",
            "The classifier container restarted more than twice in 15 minutes (crash loop, OOM kill or a "
            "failing liveness probe).",
        ),
        Alert(
            "ClassifierModelNotLoaded",
            "classifier_model_loaded == 0",
            "page",
            "{{ $labels.pod }} has no model loaded",
            "The pod has been up for 5 minutes without a loaded, warmed-up model (or it is stuck draining).",
            "5m",
        ),
        Alert(
            "ClassifierRolloutAborted",
            # "Abort" is the phase the controller exports once the Rollout's Progressing condition
            # says RolloutAborted (argo-rollouts v1.8.3 controller/metrics/rollouts.go calculatePhase).
            'max by (namespace, name) (rollout_info{name="classifier", phase="Abort"}) == 1',
            "page",
            "The classifier rollout in {{ $labels.namespace }} was aborted",
            "Argo Rollouts aborted the release (a canary AnalysisRun ended Failed or Error, or someone ran "
            "`kubectl argo rollouts abort`); the stable version serves all traffic.",
            "1m",
        ),
        Alert(
            "ClassifierCanaryAnalysisFailing",
            "max by (namespace, name, metric) "
            '(analysis_run_metric_phase{name=~"classifier-.*", phase=~"Failed|Error"}) == 1',
            "ticket",
            "Canary analysis {{ $labels.metric }} is failing in {{ $labels.namespace }}",
            "The canary metric {{ $labels.metric }} of AnalysisRun {{ $labels.name }} ended Failed (more "
            "failed measurements than its failureLimit) or Error (more consecutive query errors than its "
            "consecutiveErrorLimit, as when Prometheus is unreachable).",
        ),
        Alert(
            "ClassifierGpuSaturated",
            "avg_over_time(classifier_gpu_utilization_ratio[15m]) > 0.95",
            "ticket",
            "GPU {{ $labels.gpu }} of {{ $labels.pod }} is saturated",
            "The GPU has been more than 95% busy for 15 minutes: add replicas or raise the batch size.",
            "15m",
        ),
    ]


def prometheus_rule(slo: Slo) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "classifier",
            "namespace": "monitoring",
            "labels": {
                "release": "kube-prometheus-stack",
                "app.kubernetes.io/part-of": "model-serving-gitops",
            },
        },
        "spec": {
            "groups": [
                {"name": "classifier-slo-recording", "interval": "30s", "rules": recording_rules(slo)},
                {"name": "classifier-alerts", "rules": [alert.rule() for alert in alerts(slo)]},
            ]
        },
    }
