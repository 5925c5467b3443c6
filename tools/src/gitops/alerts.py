"""Prometheus recording rules and alerts, generated from the SLO declaration.

SLO alerts are the multi-window, multi-burn-rate alerts of the Google SRE workbook
(https://sre.google/workbook/alerting-on-slos/, table 5-8): page when the error budget burns
14.4x over 1h (confirmed over 5m) or 6x over 6h (confirmed over 30m); ticket at 1x over 3d
(confirmed over 6h), in every environment against its own objectives. The other alerts watch
silence, saturation, pod health, the model, the delivery (Argo Rollouts' own metrics), the
GPU, and the model's answers against the same hours a week earlier; they page only where the
environment's `alerting` policy says so and open tickets elsewhere (platform/slo/slos.yaml), and
the slow ones open tickets everywhere. Every alert links its runbook in runbooks/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gitops.slo import Slo

RUNBOOK_BASE = "https://github.com/model-serving-gitops/model-serving-gitops/blob/main/runbooks"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, burn rate, long window, short window)
BURN_RATES = (("page", 14.4, "1h", "5m"), ("page", 6.0, "6h", "30m"), ("ticket", 1.0, "3d", "6h"))
# Answers that spend the availability budget: 5xx, and 429 (the service refusing work for want of
# capacity; platform/slo/slos.yaml says why).
BAD_CODES = "5..|429"
# Server errors alone: what the canary analysis judges (a canary pod's 429s measure the fleet's
# load, which aborting the release does not change: docs/decisions.md) and the 5xx panels show.
SERVER_ERROR_CODES = "5.."
# Answers refused without being computed: 429 (admission queue full), 504 (deadline passed).
REFUSED_CODES = "429|504"
REFUSED_RATIO = 0.05
# The job prometheus-operator gives the classifier's scrape: the name of the Service its
# ServiceMonitor's endpoint reaches (rollouts/templates/servicemonitor.yaml selects the Services
# labelled app.kubernetes.io/name=classifier, and only `classifier` has the `metrics` port; v0.83.0
# pkg/prometheus/promcfg.go generateServiceMonitorConfig, `job` from __meta_kubernetes_service_name).
SCRAPE_JOB = "classifier"
GPU_BUSY, GPU_WINDOW_MINUTES, GPU_FOR_MINUTES = 0.95, 15, 15
# Model-quality drift: the answers against the same hours one week earlier (the same hour of the
# same weekday, so daily and weekly patterns of what users send cancel out), over a long and a
# short window that must both agree, as the burn-rate alerts' pairs. The namespace's answers as a
# whole: stable's, and a canary's at its traffic weight (the canary analysis judges that one).
PREDICTIONS = "classifier_predictions_total"
CONFIDENCE = "classifier_prediction_confidence"
DRIFT_OFFSET = "1w"
DRIFT_WINDOWS = ("1h", "6h")
# Total variation distance between the class-group mixes (0: the same, 1: no group in common): the
# share of answers that moved to other groups. Sampling noise alone gives about sqrt(K / (pi * N))
# for K equally likely groups and N answers in each window: 0.10 at the 65 groups
# (classifier/class_groups.py) and the traffic floor below, less where traffic concentrates on a
# few groups. 0.2 is twice that worst case; a label file out of order spreads dog-heavy traffic
# over the groups (0.65 in platform/alerts/tests/scenarios.yaml).
DRIFT_MAX_DISTANCE = 0.2
# Mean top-1 confidence below a week earlier by more than this. A confidence lies in [0, 1], so it
# spreads by at most 0.5 (an ImageNet classifier's, nearer 0.3): at the traffic floor the
# difference of the two means moves by chance by at most 0.5 * sqrt(2 / N) = 0.016, usually 0.01.
# 0.05 is three times that worst case. A label file out of order leaves it as it was (the same
# probabilities under other labels): the class mix above sees that one.
CONFIDENCE_MAX_DROP = 0.05
# Fewer predictions than this in the last hour, or in that hour a week earlier (none: no history
# yet), and there is no comparison to make: an idle environment, or a new one.
DRIFT_MIN_PREDICTIONS = 2000
DRIFT_FOR = "30m"
CONTAINER, CRASH_LOOPING = 'container="classifier"', 'reason="CrashLoopBackOff"'
ROLLOUT, ABORTED = 'name="classifier"', 'phase="Abort"'


@dataclass(frozen=True, slots=True)
class ThirdPartyMetric:
    """A metric another program exports: where its names and label values come from."""

    source: str  # "owner/repo tag path", as a scenario's comment must cite it
    labels: tuple[str, ...]  # the labels the exporter writes (target labels come on top)


# Every metric the generated rules and dashboards read that the classifier does not export.
# tools/tests/test_exported_metrics.py checks all the others against a real classifier process;
# tools/tests/test_alerts.py requires each scenario feeding one of these to cite its source.
THIRD_PARTY_METRICS = {
    # Prometheus' own, per target: 1 when the scrape succeeded, 0 when it failed, stale once the
    # target is gone (scrapeHealthMetric in report/reportStale); only the target's labels.
    "up": ThirdPartyMetric("prometheus/prometheus v3.5.0 scrape/scrape.go", ()),
    # Prometheus' own: the oldest sample it holds (read by the SLO dashboard: is 30d kept?).
    "prometheus_tsdb_lowest_timestamp_seconds": ThirdPartyMetric(
        "prometheus/prometheus v3.5.0 cmd/prometheus/main.go", ()
    ),
    "rollout_info": ThirdPartyMetric(
        "argoproj/argo-rollouts v1.8.3 controller/metrics/rollouts.go",
        ("namespace", "name", "strategy", "traffic_router", "phase"),
    ),
    "analysis_run_metric_phase": ThirdPartyMetric(
        "argoproj/argo-rollouts v1.8.3 controller/metrics/analysis.go",
        ("namespace", "name", "metric", "type", "dry_run", "phase"),
    ),
    # kube-state-metrics 2.16.0: the kube-state-metrics chart 6.1.0 that kube-prometheus-stack
    # 75.15.1 depends on; scraped with honorLabels, so `namespace`/`pod`/`container` are the pod's.
    "kube_pod_status_ready": ThirdPartyMetric(
        "kubernetes/kube-state-metrics v2.16.0 internal/store/pod.go",
        ("namespace", "pod", "uid", "condition"),
    ),
    "kube_pod_container_status_waiting_reason": ThirdPartyMetric(
        "kubernetes/kube-state-metrics v2.16.0 internal/store/pod.go",
        ("namespace", "pod", "uid", "container", "reason"),
    ),
}


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str = "0m"
    # Tells apart the variants of one alert that share a severity (an objective per environment),
    # or `promtool check rules` reports them as duplicates.
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def runbook(self) -> str:
        """runbooks/<slug>.md: the alert name without the prefix, in kebab case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", self.name.removeprefix("Classifier")).lower()

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, "service": "classifier", **dict(self.labels)}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{RUNBOOK_BASE}/{self.runbook}.md",
        }
        return rule


def bucket_bound(seconds: float) -> str:
    """A histogram bound as prometheus_client writes `le` (utils.floatToGoString): Python's repr of
    the float ("0.3", "1.0"), which Go's exponent form only replaces from 1e6 up."""
    if not 0 < seconds < 1e6:
        raise ValueError(f"{seconds} is outside the bounds written without an exponent")
    return repr(float(seconds))


def _selector(*matchers: str) -> str:
    return ",".join(matcher for matcher in matchers if matcher)


def error_ratio(slo: Slo, window: str, *matchers: str) -> str:
    """Bad answers over all answers, per namespace (Sloth's and Pyrra's errors/total): when only
    5xx series are left, the ratio is 1, not empty. With no bad series yet it is 0, not empty.
    `matchers` narrow every selector (a dashboard's namespace)."""
    selector = slo.selector(*matchers)
    errors = f'classifier_http_requests_total{{{selector},code=~"{BAD_CODES}"}}'
    total = f"sum by (namespace) (rate(classifier_http_requests_total{{{selector}}}[{window}]))"
    return f"(sum by (namespace) (rate({errors}[{window}]))\n  or 0 * {total})\n/ {total}"


def slow_ratio(slo: Slo, window: str, *matchers: str) -> str:
    """Successful answers slower than the threshold over all successful answers, per namespace: a
    fast 4xx, 429 or 5xx is not "fast enough" (the histogram's `outcome` label). `matchers` narrow
    every selector."""
    selector = slo.selector('outcome="success"', *matchers)
    bound = f'le="{bucket_bound(slo.latency_threshold_seconds)}"'
    fast = f"classifier_http_request_duration_seconds_bucket{{{selector},{bound}}}"
    total = f"classifier_http_request_duration_seconds_count{{{selector}}}"
    return (
        f"1 - (sum by (namespace) (rate({fast}[{window}]))\n  / sum by (namespace) (rate({total}[{window}])))"
    )


def _increase(metric: str, window: str, by: str, offset: str, *matchers: str) -> str:
    selector = f"{metric}{{{_selector(*matchers)}}}" if any(matchers) else metric
    shifted = f" offset {offset}" if offset else ""
    return f"sum by ({by}) (increase({selector}[{window}]{shifted}))"


# Drift compares a model with itself: a release of another model (name, version) changes the mix
# on purpose, and its answers are compared with its own from a week later on.
PER_MODEL = "namespace, name, version"


def predictions(window: str, offset: str = "", *matchers: str) -> str:
    """Classified images per namespace and model over the window (`offset`: that long ago)."""
    return _increase(PREDICTIONS, window, PER_MODEL, offset, *matchers)


def class_group_shares(window: str, offset: str = "", *matchers: str) -> str:
    """Each class group's share of a model's answers in its namespace over the window."""
    by_group = _increase(PREDICTIONS, window, f"{PER_MODEL}, class_group", offset, *matchers)
    return f"{by_group}\n  / ignoring (class_group) group_left\n  {predictions(window, offset, *matchers)}"


def prediction_drift(window: str, *matchers: str) -> str:
    """The total variation distance between the class-group mix over the window and over the same
    window a week earlier, per namespace: half the sum of the shares' differences. Each pod writes
    every group it can answer at 0 from its start, but a new label file can make a group reachable
    that was not (`other`) or no longer: a group on one side only counts with its whole share (the
    `or`s), not dropped as `-` alone would drop it. With no week-ago data it is 0.5, not empty:
    the alerts require traffic in both windows."""
    now = class_group_shares(window, "", *matchers)
    then = class_group_shares(window, DRIFT_OFFSET, *matchers)
    return f"0.5 * sum by ({PER_MODEL}) (abs(\n  ({now})\n  - ({then})\n  or ({now})\n  or ({then})\n))"


def mean_confidence(window: str, offset: str = "", *matchers: str) -> str:
    """The mean top-1 probability of a model's answers in its namespace over the window."""
    total = _increase(f"{CONFIDENCE}_sum", window, PER_MODEL, offset, *matchers)
    return f"{total}\n/ {_increase(f'{CONFIDENCE}_count', window, PER_MODEL, offset, *matchers)}"


def _with_history(metric: str) -> str:
    """Enough answers in the last hour and in that hour a week earlier to compare them."""
    return "\n".join(
        f"and {_increase(metric, DRIFT_WINDOWS[0], PER_MODEL, offset)} >= {DRIFT_MIN_PREDICTIONS}"
        for offset in ("", DRIFT_OFFSET)
    )


def _prediction_drift_expr() -> str:
    drifted = [f"({prediction_drift(window)})\n> {DRIFT_MAX_DISTANCE:g}" for window in DRIFT_WINDOWS]
    return "max by (namespace) (\n" + "\nand\n".join(drifted) + "\n" + _with_history(PREDICTIONS) + "\n)"


def _confidence_drop_expr() -> str:
    dropped = [
        f"(\n{mean_confidence(window, DRIFT_OFFSET)}\n)\n- (\n{mean_confidence(window)}\n)\n"
        f"> {CONFIDENCE_MAX_DROP:g}"
        for window in DRIFT_WINDOWS
    ]
    return (
        "max by (namespace) (\n"
        + "\nand\n".join(dropped)
        + "\n"
        + _with_history(f"{CONFIDENCE}_count")
        + "\n)"
    )


def recording_rules(slo: Slo) -> list[dict[str, str]]:
    return [
        {"record": f"classifier:slo_{sli}:ratio_rate{window}", "expr": ratio(slo, window)}
        for sli, ratio in (("errors", error_ratio), ("slow", slow_ratio))
        for window in WINDOWS
    ]


def _objective_scopes(slo: Slo, sli: str) -> list[tuple[str, float]]:
    """(namespace matcher, objective): the default objective first, then one per other value."""
    default = slo.availability_target if sli == "errors" else slo.latency_target
    own = {
        ns: (availability if sli == "errors" else latency)
        for ns, (availability, latency) in slo.overrides.items()
    }
    differing = {ns: target for ns, target in own.items() if target != default}
    scopes = [(f'namespace!~"{"|".join(sorted(differing))}"' if differing else "", default)]
    for target in sorted(set(differing.values())):
        names = "|".join(sorted(ns for ns, value in differing.items() if value == target))
        scopes.append((f'namespace=~"{names}"', target))
    return scopes


def _burn_alerts(slo: Slo, sli: str, label: str) -> list[Alert]:
    """Page and ticket alerts for one SLI, one of each per objective."""
    what = (
        "requests failing (5xx or 429)"
        if sli == "errors"
        else f"successful requests slower than {slo.latency_threshold_seconds:g}s"
    )
    name = f"Classifier{label}BudgetBurn"
    alerts = []
    for scope, target in _objective_scopes(slo, sli):
        budget = round(1.0 - target, 8)

        def condition(rate: float, long: str, short: str, scope: str = scope, budget: float = budget) -> str:
            threshold = round(rate * budget, 8)
            return (
                f"(classifier:slo_{sli}:ratio_rate{long}{{{scope}}} > {threshold:g}"
                f" and classifier:slo_{sli}:ratio_rate{short}{{{scope}}} > {threshold:g})"
            )

        page = [
            condition(rate, long, short) for severity, rate, long, short in BURN_RATES if severity == "page"
        ]
        ticket = [
            condition(rate, long, short) for severity, rate, long, short in BURN_RATES if severity == "ticket"
        ]
        objective = (("objective", f"{round(target * 100, 6):g}%"),)
        alerts += [
            Alert(
                name,
                "\nor\n".join(page),
                "page",
                f"{label} error budget burning fast in {{{{ $labels.namespace }}}}",
                f"The share of {what} in {{{{ $labels.namespace }}}} would spend the {slo.window} error "
                f"budget in days: 14.4x over 1h or 6x over 6h (budget {budget:g}).",
                "2m",
                objective,
            ),
            Alert(
                f"{name}Slow",
                ticket[0],
                "ticket",
                f"{label} error budget burning steadily in {{{{ $labels.namespace }}}}",
                f"The share of {what} in {{{{ $labels.namespace }}}} is above budget over 3 days (1x burn, "
                f"budget {budget:g}).",
                "1h",
                objective,
            ),
        ]
    return alerts


def _paging_scopes(slo: Slo) -> list[tuple[str, str]]:
    """(severity, namespace matcher): page wherever the environment pages, ticket where it does not.
    A namespace slos.yaml does not name pages: an unknown environment is not a reason for quiet."""
    quiet = "|".join(sorted(ns for ns, policy in slo.alerting.items() if not policy.pages))
    if not quiet:
        return [("page", "")]
    return [("page", f'namespace!~"{quiet}"'), ("ticket", f'namespace=~"{quiet}"')]


def _pages_where_allowed(
    slo: Slo, name: str, expr: Callable[[str], str], summary: str, description: str, for_: str
) -> list[Alert]:
    """A non-SLO alert that pages: one variant per severity, each over its namespaces."""
    return [
        Alert(name, expr(scope), severity, summary, description, for_)
        for severity, scope in _paging_scopes(slo)
    ]


def _refused_ratio(slo: Slo, scope: str) -> str:
    """The share of inference requests refused without being computed: a ratio of the traffic, so
    one threshold means the same at 5 and at 500 requests a second."""
    requests = _selector(scope, slo.selector())
    refused = f'classifier_http_requests_total{{{requests},code=~"{REFUSED_CODES}"}}'
    total = f"classifier_http_requests_total{{{requests}}}"
    return (
        f"sum by (namespace) (rate({refused}[5m]))\n/ sum by (namespace) (rate({total}[5m]))\n"
        f"> {REFUSED_RATIO:g}"
    )


def _by_severity(slo: Slo, namespaces: Iterable[str]) -> dict[str, list[str]]:
    """The namespaces under the severity each alerts with (page first; none: left out)."""
    grouped: dict[str, list[str]] = {"page": [], "ticket": []}
    for ns in sorted(namespaces):
        grouped["page" if slo.alerting[ns].pages else "ticket"].append(ns)
    return {severity: found for severity, found in grouped.items() if found}


def _metrics_absent(slo: Slo) -> list[Alert]:
    """Prometheus scrapes no classifier pod: every target down, or none left (pods, Service,
    ServiceMonitor or scrape gone; `up` goes stale with its target, so only absent() sees that,
    and absent() needs the namespace spelt out)."""
    job = f'job="{SCRAPE_JOB}"'
    alerts = []
    for severity, scope in _paging_scopes(slo):
        down = f"max by (namespace) (up{{{_selector(job, scope)}}}) == 0"
        gone = [
            f'sum by (namespace) (absent(up{{{job},namespace="{ns}"}}))'
            for ns in _by_severity(slo, slo.alerting).get(severity, [])
        ]
        alerts.append(
            Alert(
                "ClassifierMetricsAbsent",
                "\nor\n".join([down, *gone]),
                severity,
                "Prometheus gets no metrics from the classifier in {{ $labels.namespace }}",
                f"For 5 minutes no classifier pod in {{{{ $labels.namespace }}}} has been scraped (job "
                f"{SCRAPE_JOB}): every target is down, or none is left. The SLO alerts see nothing there.",
                "5m",
            )
        )
    return alerts


def _traffic_absent(slo: Slo) -> list[Alert]:
    """No inference request arrives where requests never stop, while the pods report (a scrape
    that is gone is ClassifierMetricsAbsent's): the counters stay flat, or have no series at all
    once every pod has restarted, and the SLO ratios are 0/0, which no burn-rate alert sees."""
    job, requests = f'job="{SCRAPE_JOB}"', slo.selector()

    def no_requests(ns: str) -> str:
        series = f'classifier_http_requests_total{{namespace="{ns}",{requests}}}'
        flat = f"sum by (namespace) (increase({series}[10m])) == 0"
        return (
            f"(\n  {flat}\n  or absent_over_time({series}[10m])\n)\n"
            f'and on (namespace) max by (namespace) (up{{{job},namespace="{ns}"}}) == 1'
        )

    serving = [ns for ns, policy in slo.alerting.items() if policy.always_serves]
    return [
        Alert(
            "ClassifierTrafficAbsent",
            "\nor\n".join(no_requests(ns) for ns in namespaces),
            severity,
            "No inference requests reach the classifier in {{ $labels.namespace }}",
            "For 15 minutes (10 without a request, 5 more to confirm) no inference request has reached "
            "the classifier in {{ $labels.namespace }}, where requests never stop, although its pods "
            "report: clients cannot reach it (Ingress, DNS, NetworkPolicy) and the SLOs cannot see it.",
            "5m",
        )
        for severity, namespaces in _by_severity(slo, serving).items()
    ]


def alerts(slo: Slo) -> list[Alert]:
    return [
        *_burn_alerts(slo, "errors", "Availability"),
        *_burn_alerts(slo, "slow", "Latency"),
        *_metrics_absent(slo),
        *_traffic_absent(slo),
        Alert(
            "ClassifierQueueNearCapacity",
            "max by (namespace, pod) (classifier_pending_images / classifier_queue_capacity) > 0.8",
            "ticket",
            "{{ $labels.pod }} is near its admission capacity",
            "More than 80% of the images the pod admits at once are in its pipeline; more load gets 429s.",
            "10m",
        ),
        *_pages_where_allowed(
            slo,
            "ClassifierRejectingRequests",
            lambda scope: _refused_ratio(slo, scope),
            "Requests are being refused in {{ $labels.namespace }}",
            f"More than {REFUSED_RATIO:.0%} of inference requests over 5 minutes, for 5 minutes, were "
            "answered 429 (no place within the admission wait) or 504 (deadline passed before the answer): "
            "the service is saturated.",
            "5m",
        ),
        Alert(
            "ClassifierPodsNotReady",
            "sum by (namespace) "
            '(kube_pod_status_ready{condition=~"false|unknown", pod=~"classifier-.*"}) > 0',
            "ticket",
            "Classifier pods are not ready in {{ $labels.namespace }}",
            "Some classifier pods have been unready (or on an unreachable node) for 10 minutes: they get no "
            "traffic.",
            "10m",
        ),
        *_pages_where_allowed(
            slo,
            "ClassifierPodRestarting",
            # As kube-prometheus-stack's KubePodCrashLooping (75.15.1, rules-1.14/kubernetes-apps.yaml):
            # the waiting reason, held over the back-off's running gaps, not a count of restarts
            # that rises and falls with the back-off's period.
            lambda scope: (
                "max by (namespace, pod, container) (max_over_time(kube_pod_container_status_waiting_reason"
                f"{{{_selector(scope, CONTAINER, CRASH_LOOPING)}}}[5m])) >= 1"
            ),
            "{{ $labels.pod }} is crash looping",
            "The classifier container of {{ $labels.pod }} has been waiting in CrashLoopBackOff for 15 "
            "minutes: it keeps exiting (a crash, an OOM kill or a failing liveness probe) and the kubelet "
            "waits ever longer before restarting it.",
            "15m",
        ),
        *_pages_where_allowed(
            slo,
            "ClassifierModelNotLoaded",
            lambda scope: f"classifier_model_loaded{{{scope}}} == 0",
            "{{ $labels.pod }} has no model loaded",
            "The pod has been up for 5 minutes without a loaded, warmed-up model (or it is stuck draining).",
            "5m",
        ),
        *_pages_where_allowed(
            slo,
            "ClassifierRolloutAborted",
            # "Abort" is the phase the controller exports once the Rollout's Progressing condition
            # says RolloutAborted (argo-rollouts v1.8.3 controller/metrics/rollouts.go calculatePhase).
            lambda scope: (
                f"max by (namespace, name) (rollout_info{{{_selector(scope, ROLLOUT, ABORTED)}}}) == 1"
            ),
            "The classifier rollout in {{ $labels.namespace }} was aborted",
            "Argo Rollouts aborted the release (a canary AnalysisRun ended Failed or Error, or someone ran "
            "`kubectl argo rollouts abort`); the stable version serves all traffic.",
            "1m",
        ),
        Alert(
            "ClassifierCanaryAnalysisFailing",
            # Failed runs are kept (5 by default: utils/defaults DefaultAnalysisRunUnsuccessfulHistoryLimit,
            # spec.analysis.unsuccessfulRunHistoryLimit; utils/analysis/filter.go applies it) and
            # their series stay 1; the metrics name no revision. A Failed or Error run aborts its
            # Rollout (rollout/analysis.go), and the phase stays Abort until a retry or a new
            # revision: so a failed run belongs to the current release only while it is aborted.
            "max by (namespace, name, metric) (analysis_run_metric_phase"
            '{name=~"classifier-.*", dry_run="false", phase=~"Failed|Error"}) == 1\n'
            f"and on (namespace) max by (namespace) (rollout_info{{{_selector(ROLLOUT, ABORTED)}}}) == 1",
            "ticket",
            "Canary analysis {{ $labels.metric }} failed in {{ $labels.namespace }}",
            "The canary metric {{ $labels.metric }} of AnalysisRun {{ $labels.name }} ended Failed (more "
            "failed measurements than its failureLimit) or Error (more consecutive query errors than its "
            "consecutiveErrorLimit, as when Prometheus is unreachable), and the release is aborted.",
        ),
        Alert(
            "ClassifierPredictionDrift",
            _prediction_drift_expr(),
            "ticket",
            "The classifier's answers in {{ $labels.namespace }} have drifted from last week's",
            f"The mix of class groups the classifier answers with in {{{{ $labels.namespace }}}} differs "
            f"from the same hours a week earlier by a total variation distance above "
            f"{DRIFT_MAX_DISTANCE:g} over both the last {DRIFT_WINDOWS[0]} and {DRIFT_WINDOWS[1]} (at least "
            f"{DRIFT_MIN_PREDICTIONS} predictions an hour, now and then): a fifth of the answers went to "
            "other groups. A defect around the model (label file, colour order, crop), a new model, or "
            "different images sent.",
            DRIFT_FOR,
        ),
        Alert(
            "ClassifierConfidenceDrop",
            _confidence_drop_expr(),
            "ticket",
            "The classifier is less sure of its answers in {{ $labels.namespace }} than last week",
            f"The mean top-1 confidence in {{{{ $labels.namespace }}}} is more than {CONFIDENCE_MAX_DROP:g} "
            f"below the same hours a week earlier over both the last {DRIFT_WINDOWS[0]} and "
            f"{DRIFT_WINDOWS[1]} (at least {DRIFT_MIN_PREDICTIONS} predictions an hour, now and then): "
            "inputs the model reads worse (colour order, normalisation, resize), a weaker model, or "
            "harder images sent.",
            DRIFT_FOR,
        ),
        Alert(
            "ClassifierGpuSaturated",
            f"avg_over_time(classifier_gpu_utilization_ratio[{GPU_WINDOW_MINUTES}m]) > {GPU_BUSY:g}",
            "ticket",
            "GPU {{ $labels.gpu }} of {{ $labels.pod }} is saturated",
            f"The GPU's utilisation, averaged over {GPU_WINDOW_MINUTES} minutes, has stayed above "
            f"{GPU_BUSY:.0%} for {GPU_FOR_MINUTES} minutes more: it has been busy for about "
            f"{GPU_WINDOW_MINUTES + GPU_FOR_MINUTES} minutes. Add replicas or raise the batch size.",
            f"{GPU_FOR_MINUTES}m",
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
