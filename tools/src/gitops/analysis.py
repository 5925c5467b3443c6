"""Canary AnalysisTemplates generated from the SLOs.

Every condition is guarded: an empty result (no series yet) or NaN (no traffic: 0/0) makes
neither the success nor the failure condition true, so the measurement is Inconclusive,
never a pass and never an evaluation error (argo-rollouts issues #1466, #1905, #3802).
"""

from __future__ import annotations

from typing import Any

from gitops.slo import Slo

CANARY_SELECTOR = ('namespace="{{args.namespace}}"', 'rollouts_pod_template_hash="{{args.canary-hash}}"')
GUARD = "len(result) > 0 && !isNaN(result[0])"


def _template(name: str, metric: str, query: str, threshold: float, description: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "annotations": {"description": description}},
        "spec": {
            "args": [
                {"name": "canary-hash"},
                {"name": "namespace"},
                # 0 = measure until the rollout ends (background analysis); a step passes a count.
                {"name": "measurements", "value": "0"},
            ],
            "metrics": [
                {
                    "name": metric,
                    "initialDelay": "1m",
                    "interval": "1m",
                    "count": "{{args.measurements}}",
                    "failureLimit": 1,
                    "inconclusiveLimit": 3,
                    "consecutiveErrorLimit": 4,
                    "successCondition": f"{GUARD} && result[0] <= {threshold}",
                    "failureCondition": f"{GUARD} && result[0] > {threshold}",
                    "provider": {"prometheus": {"address": "{{args.prometheus}}", "query": query}},
                }
            ],
        },
    }


def error_rate_template(slo: Slo) -> dict[str, Any]:
    selector = slo.selector(*CANARY_SELECTOR)
    window = slo.rate_window
    query = (
        f'(sum(rate(classifier_http_requests_total{{{selector},code=~"5.."}}[{window}])) or vector(0))\n'
        f"/\nsum(rate(classifier_http_requests_total{{{selector}}}[{window}]))\n"
    )
    return _with_prometheus(
        _template(
            "classifier-error-rate",
            "error-rate",
            query,
            slo.canary_max_error_rate,
            f"Canary 5xx ratio on the SLO routes must stay <= {slo.canary_max_error_rate} "
            f"(error budget {slo.error_budget:g} x burn rate {slo.canary_max_burn_rate:g}).",
        ),
        slo,
    )


def latency_template(slo: Slo) -> dict[str, Any]:
    selector = slo.selector(*CANARY_SELECTOR)
    query = (
        f"histogram_quantile(0.99, sum by (le) (rate(classifier_http_request_duration_seconds_bucket"
        f"{{{selector}}}[{slo.rate_window}])))\n"
    )
    return _with_prometheus(
        _template(
            "classifier-latency-p99",
            "latency-p99",
            query,
            slo.latency_threshold_seconds,
            f"Canary p99 latency on the SLO routes must stay <= {slo.latency_threshold_seconds}s "
            f"(the latency objective's threshold).",
        ),
        slo,
    )


def _with_prometheus(template: dict[str, Any], slo: Slo) -> dict[str, Any]:
    template["spec"]["args"].append({"name": "prometheus", "value": slo.prometheus_url})
    return template
