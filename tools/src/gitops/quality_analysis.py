"""The model-quality AnalysisTemplates, generated from platform/slo/slos.yaml `quality`.

`classifier-quality-live` compares the canary's answers with stable's over the same window, in
Prometheus: the class groups of their top-1 labels and their top-1 confidence, each a
universal-inference e-value (gitops.quality_stats) with a threshold that holds the declared
false-abort budget over `max_checks` checks. It judges a release of stable's model only: when
the canary serves another model (name and version, as both arms' series carry them) it measures
0, a pass, and the paired check's new-model floors judge it.

`classifier-quality-paired` is an Argo Rollouts job metric: a Job runs classifier-quality-check
from the release's own image, which sends the image's golden set to the canary Service and to
the stable Service. Argo Rollouts v1.8.3 marks the measurement Successful when the Job
completes and Failed when it fails (metricproviders/job/job.go:186-195), whatever the exit
code's reason; the check exits 1 for a verdict and 2 when it could not measure, and both stop
the release. The floors are template arguments with the declared values as defaults, so a
release meant to change behaviour lowers them in its own Rollout, in the promotion's diff.
"""

from __future__ import annotations

from typing import Any

from gitops.analysis import GUARD, analysis_template, ordinal
from gitops.analysis_model import DEFAULT_CONSECUTIVE_ERROR_LIMIT
from gitops.quality_stats import (
    CLASS_GROUPS,
    CONFIDENCE_BOUNDS,
    PREDICTIONS,
    Arms,
    class_group_query,
    confidence_query,
    promql_threshold,
)
from gitops.slo import PairedFloors, Slo

PAIRED = "classifier-quality-paired"
LIVE = "classifier-quality-live"
LIVE_SIGNALS = 2  # class groups and confidence share the false-abort budget equally
# Argo Rollouts names the Job `<run UID>.<metric>.<n>` and it must fit a 63-character label
# (metricproviders/job/job.go:72-77): 36 + 1 + metric + 1 + digits, so the metric name stays short.
PAIRED_METRIC = "paired-check"
GOLDEN_SET = "/opt/golden"  # where the image carries it (services/classifier/Dockerfile)
# The inference routes' tokens (rollouts/templates/externalsecret.yaml).
TOKENS_SECRET = "classifier-api-tokens"
TOKENS_DIR = "/var/run/secrets/classifier"
CHECK_LABELS = {"app.kubernetes.io/name": "classifier-quality-check"}


def paired_template(slo: Slo) -> dict[str, Any]:
    paired = slo.paired
    floors = {
        "same-model-min-agreement": paired.same_model.min_agreement,
        "same-model-min-top5-overlap": paired.same_model.min_top5_overlap,
        "same-network-min-agreement": paired.same_network.min_agreement,
        "same-network-min-top5-overlap": paired.same_network.min_top5_overlap,
        "new-model-min-agreement": paired.new_model.min_agreement,
        "new-model-min-top5-overlap": paired.new_model.min_top5_overlap,
        "min-accuracy": paired.min_accuracy,
    }
    command = [
        "classifier-quality-check",
        f"--golden={GOLDEN_SET}",
        "--canary=http://classifier-canary",
        "--stable=http://classifier-stable",
        f"--token-file={TOKENS_DIR}/tokens",
        *(f"--{name}={{{{args.{name}}}}}" for name in floors),
    ]
    container = {
        "name": "quality-check",
        "image": "classifier",
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "api-tokens", "mountPath": TOKENS_DIR, "readOnly": True}],
    }
    job = {
        # One try (Kubernetes would retry six times by default) and a deadline: a Job that never
        # finishes would leave the measurement Running for ever.
        "backoffLimit": 0,
        "activeDeadlineSeconds": paired.deadline_seconds,
        "template": {
            "metadata": {"labels": dict(CHECK_LABELS)},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    # The token file is mounted 0440: readable through its group, which fsGroup sets.
                    "fsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": [
                    {"name": "api-tokens", "secret": {"secretName": TOKENS_SECRET, "defaultMode": 0o440}}
                ],
            },
        },
    }
    description = (
        "The golden set through the canary and stable: top-1 agreement and top-5 overlap at least "
        f"{_pair(paired.same_model)} for the same model, {_pair(paired.same_network)} for another build "
        f"of its network (version 1 -> 1+int8), {_pair(paired.new_model)} for another model; "
        f"canary accuracy on the labelled views at least {paired.min_accuracy}."
    )
    args = [{"name": name, "value": str(value)} for name, value in floors.items()]
    return analysis_template(
        PAIRED, description, args, [{"name": PAIRED_METRIC, "provider": {"job": {"spec": job}}}]
    )


def _pair(floors: PairedFloors) -> str:
    return f"{floors.min_agreement}/{floors.min_top5_overlap}"


ROLLOUT_ARMS = Arms()  # the arms as the Rollout's args name them


def same_model_only(query: str, arms: Arms = ROLLOUT_ARMS) -> str:
    """`query` while the canary serves stable's model; 0 (a pass) while it serves another; no
    result (Inconclusive) while either arm has no series yet."""

    def models(selector: str) -> str:
        return f"group by (name, version) ({PREDICTIONS}{{{selector}}})"

    canary, stable = (
        models(arms.canary()),
        models(f'namespace="{arms.namespace}",rollouts_pod_template_hash="{arms.stable_hash}"'),
    )
    same = f"count({canary} and on (name, version) {stable})"
    other = f"count({canary} unless on (name, version) {stable}) and on () count({stable})"
    return f"(\n{query}) and on () {same}\nor on ()\n(vector(0) and on () ({other}))\n"


def live_template(slo: Slo) -> dict[str, Any]:
    live = slo.live
    alpha = live.false_abort_budget / LIVE_SIGNALS
    signals = [
        (
            "class-mix",
            class_group_query(live.window, live.min_predictions, scrape_interval=live.scrape_interval),
            len(CLASS_GROUPS),
        ),
        (
            "confidence",
            confidence_query(live.window, live.min_predictions, scrape_interval=live.scrape_interval),
            len(CONFIDENCE_BOUNDS),
        ),
    ]
    metrics = []
    for name, query, categories in signals:
        threshold = round(promql_threshold(live.max_checks, alpha, categories), 4)
        metrics.append(
            {
                "name": name,
                # As the background's SLO metrics: the canary's first minute holds few answers.
                "initialDelay": slo.analysis.background_initial_delay,
                "interval": slo.analysis.interval,
                # The checks the threshold's budget covers, and no more: a rollout paused for long
                # would otherwise keep measuring past them (the background run measures on).
                "count": live.max_checks,
                # One failed check aborts: the threshold already spends the budget over every check.
                "failureLimit": 0,
                "inconclusiveLimit": live.inconclusive - 1,
                "consecutiveErrorLimit": DEFAULT_CONSECUTIVE_ERROR_LIMIT,
                "successCondition": f"{GUARD} && result[0] < {threshold}",
                "failureCondition": f"{GUARD} && result[0] >= {threshold}",
                "provider": {
                    "prometheus": {"address": "{{args.prometheus}}", "query": same_model_only(query)}
                },
            }
        )
    description = (
        f"All through the rollout, every {slo.analysis.interval}: the canary's answers against stable's over "
        f"the last {live.window} (class groups, top-1 confidence), for a release of stable's model. A log "
        f"e-value at or above its threshold aborts (at most {live.false_abort_budget:g} of healthy releases "
        f"over {live.max_checks} checks); fewer than {live.min_predictions} answers in either arm is "
        f"Inconclusive, the {ordinal(live.inconclusive)} pauses."
    )
    args = [
        {"name": "canary-hash"},
        {"name": "stable-hash"},
        {"name": "namespace"},
        {"name": "prometheus", "value": slo.prometheus_url},
    ]
    return analysis_template(LIVE, description, args, metrics)
