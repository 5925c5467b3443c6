"""Canary AnalysisTemplates generated from the SLOs: one for the background analysis that runs
all through a rollout, one for the step analysis that gates full promotion. Both measure the
canary's error ratio and p99 latency; they differ in how measurements are judged
(platform/slo/slos.yaml `canary`; the outcomes are those of gitops.analysis_model).

Every condition is guarded: an empty result (no series yet) or NaN (no traffic: 0/0) makes
neither the success nor the failure condition true, so the measurement is Inconclusive,
never a pass and never an evaluation error (argo-rollouts issues #1466, #1905, #3802).
"""

from __future__ import annotations

from typing import Any

from gitops.alerts import SERVER_ERROR_CODES
from gitops.analysis_model import DEFAULT_CONSECUTIVE_ERROR_LIMIT
from gitops.slo import Slo

CANARY_SELECTOR = ('namespace="{{args.namespace}}"', 'rollouts_pod_template_hash="{{args.canary-hash}}"')
GUARD = "len(result) > 0 && !isNaN(result[0])"
BACKGROUND = "classifier-canary-background"
STEP = "classifier-canary-step"
# Argo Rollouts' default consecutiveErrorLimit is written out in both templates: the fifth error
# in a row (10 s apart, analysis.go DefaultErrorRetryInterval) ends a run Error.
OUTAGE_ERRORS = DEFAULT_CONSECUTIVE_ERROR_LIMIT + 1


def _measures(slo: Slo) -> list[tuple[str, str, float]]:
    """(metric, PromQL, threshold): what a canary must stay within."""
    selector = slo.selector(*CANARY_SELECTOR)
    window = slo.rate_window
    error_rate = (
        f'(sum(rate(classifier_http_requests_total{{{selector},code=~"{SERVER_ERROR_CODES}"}}[{window}]))'
        " or vector(0))\n"
        f"/\nsum(rate(classifier_http_requests_total{{{selector}}}[{window}]))\n"
    )
    latency = (
        f"histogram_quantile(0.99, sum by (le) (rate(classifier_http_request_duration_seconds_bucket"
        f"{{{selector}}}[{window}])))\n"
    )
    return [
        ("error-rate", error_rate, slo.canary_max_error_rate),
        ("latency-p99", latency, slo.latency_threshold_seconds),
    ]


def analysis_template(
    name: str, description: str, args: list[dict[str, Any]], metrics: list[dict[str, Any]]
) -> dict[str, Any]:
    """An AnalysisTemplate, its description in an annotation (every generated one has one)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "annotations": {"description": description}},
        "spec": {"args": args, "metrics": metrics},
    }


def _template(name: str, description: str, limits: dict[str, Any], slo: Slo) -> dict[str, Any]:
    args = [
        {"name": "canary-hash"},
        {"name": "namespace"},
        {"name": "prometheus", "value": slo.prometheus_url},
    ]
    metrics = [
        {
            "name": metric,
            **limits,
            "successCondition": f"{GUARD} && result[0] <= {threshold}",
            "failureCondition": f"{GUARD} && result[0] > {threshold}",
            "provider": {"prometheus": {"address": "{{args.prometheus}}", "query": query}},
        }
        for metric, query, threshold in _measures(slo)
    ]
    return analysis_template(name, description, args, metrics)


def _thresholds(slo: Slo) -> str:
    return (
        f"5xx ratio <= {slo.canary_max_error_rate} (error budget {slo.error_budget:g} x burn rate "
        f"{slo.canary_max_burn_rate:g}) and p99 <= {slo.latency_threshold_seconds}s"
    )


def background_template(slo: Slo) -> dict[str, Any]:
    """No count: measures until the rollout ends. Failed once `failures` measurements failed
    (failureLimit = failures - 1: a metric fails when Failed > failureLimit, analysis/analysis.go)."""
    policy = slo.analysis
    limits = {
        "initialDelay": policy.background_initial_delay,
        "interval": policy.interval,
        "failureLimit": policy.background_failures - 1,
        "inconclusiveLimit": policy.background_inconclusive - 1,
        "consecutiveErrorLimit": DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    }
    description = (
        f"All through the rollout, every {policy.interval}: {_thresholds(slo)}. The "
        f"{ordinal(policy.background_failures)} failed measurement aborts, the "
        f"{ordinal(policy.background_inconclusive)} inconclusive one pauses, the {ordinal(OUTAGE_ERRORS)} "
        "Prometheus error in a row aborts."
    )
    return _template(BACKGROUND, description, limits, slo)


def step_template(slo: Slo) -> dict[str, Any]:
    """`measurements` measurements, each must pass: the first failure fails the run (failureLimit
    0), the first inconclusive one makes it Inconclusive (inconclusiveLimit 0), so reaching the
    count means every one passed. An error is retried and not counted (analysis/analysis.go
    runMeasurements); only errors in a row end the run (Error)."""
    policy = slo.analysis
    limits = {
        "count": policy.step_measurements,
        "interval": policy.interval,
        "failureLimit": 0,
        "inconclusiveLimit": 0,
        "consecutiveErrorLimit": DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    }
    description = (
        f"Before full promotion: {policy.step_measurements} measurements {policy.interval} apart, each must "
        f"pass: {_thresholds(slo)}. A failed one aborts, an inconclusive one (no data) pauses, the "
        f"{ordinal(OUTAGE_ERRORS)} Prometheus error in a row aborts."
    )
    return _template(STEP, description, limits, slo)


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
