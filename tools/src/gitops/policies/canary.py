"""The canary's wiring: the analysis it runs, and what targets the Rollout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gitops.policies.base import Context, Problem, matches, pod_labels, policy
from gitops.render import describe

CANARY_SELECTOR = 'rollouts_pod_template_hash="{{args.canary-hash}}"'
GUARDS = ("len(result) > 0", "!isNaN(result[0])")


# The API group each workload kind is served from; a scaler names it in scaleTargetRef.apiVersion.
WORKLOAD_API = {"Rollout": "argoproj.io/v1alpha1", "Deployment": "apps/v1"}


@policy("targets")
def pdb_and_autoscaler_target_the_workload(context: Context) -> Iterator[Problem]:
    """The PDB and the autoscaler act on the pods that serve: a Rollout's, or (the chart on its own)
    a Deployment's."""
    workloads = {(m["kind"], m["metadata"]["name"]): m for m in context.workloads()}
    for pdb in context.of_kind("PodDisruptionBudget"):
        selector = pdb.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not any(matches(selector, pod_labels(w)) for w in workloads.values()):
            yield Problem("targets", describe(pdb), f"selector {selector} matches no workload's pods")
    for scaler in [*context.of_kind("ScaledObject"), *context.of_kind("HorizontalPodAutoscaler")]:
        target = scaler.get("spec", {}).get("scaleTargetRef", {})
        kind = str(target.get("kind"))
        if (kind, target.get("name")) not in workloads:
            yield Problem(
                "targets",
                describe(scaler),
                f"scaleTargetRef {kind}/{target.get('name')} is not a workload here",
            )
        elif target.get("apiVersion") != WORKLOAD_API.get(kind):
            yield Problem(
                "targets", describe(scaler), f"scaleTargetRef.apiVersion must be {WORKLOAD_API.get(kind)}"
            )


@policy("analysis")
def guarded_canary_analysis(context: Context) -> Iterator[Problem]:
    templates = {m["metadata"]["name"]: m for m in context.of_kind("AnalysisTemplate")}
    for name, template in templates.items():
        for metric in template.get("spec", {}).get("metrics", []):
            subject = f"AnalysisTemplate/{name} metric {metric.get('name')}"
            if "prometheus" not in metric.get("provider", {}):
                continue  # a job metric has no result to guard (the `analysis-jobs` rules)
            for field in ("successCondition", "failureCondition"):
                condition = str(metric.get(field, ""))
                missing = [guard for guard in GUARDS if guard not in condition]
                if missing:
                    yield Problem(
                        "analysis",
                        subject,
                        f"{field} does not guard against {' and '.join(missing)}: an empty or NaN result "
                        "(no traffic) must be Inconclusive, not a pass or an error",
                    )
            query = str(metric.get("provider", {}).get("prometheus", {}).get("query", ""))
            if CANARY_SELECTOR not in query:
                yield Problem(
                    "analysis", subject, f"the query does not select canary pods by {CANARY_SELECTOR}"
                )
    for rollout in context.of_kind("Rollout"):
        canary = rollout.get("spec", {}).get("strategy", {}).get("canary", {})
        uses = [canary.get("analysis", {})] + [
            s["analysis"] for s in canary.get("steps", []) if "analysis" in s
        ]
        for use in uses:
            for ref in use.get("templates", []):
                if ref.get("templateName") not in templates:
                    yield Problem(
                        "analysis",
                        describe(rollout),
                        f"analysis template {ref.get('templateName')} is missing",
                    )
            declared = {
                arg.get("name")
                for ref in use.get("templates", [])
                for arg in templates.get(ref.get("templateName"), {}).get("spec", {}).get("args", [])
            }
            # A hash from anything but podTemplateHashValue resolves to "" without an error: a
            # fieldRef reads the Rollout object, which has no such label (argo-rollouts v1.8.3
            # utils/analysis/factory.go:25-34), and the query then selects no pod.
            for arg_name, source in (("canary-hash", "Latest"), ("stable-hash", "Stable")):
                passed = [a for a in use.get("args", []) if a.get("name") == arg_name]
                if arg_name in declared and not any(
                    a.get("valueFrom", {}).get("podTemplateHashValue") == source for a in passed
                ):
                    yield Problem(
                        "analysis",
                        describe(rollout),
                        f"{arg_name} is not passed as valueFrom.podTemplateHashValue: {source}",
                    )


@policy("analysis-jobs")
def analysis_jobs_end(context: Context) -> Iterator[Problem]:
    """A job metric's measurement lasts as long as its Job: Running until the Job completes or
    fails (argo-rollouts v1.8.3 metricproviders/job/job.go:186-195, nothing else ends it)."""
    for template in context.of_kind("AnalysisTemplate", "ClusterAnalysisTemplate"):
        for metric in template.get("spec", {}).get("metrics", []):
            job = metric.get("provider", {}).get("job")
            if job is None:
                continue
            subject = f"AnalysisTemplate/{template['metadata']['name']} metric {metric.get('name')}"
            spec = job.get("spec", {})
            if not spec.get("activeDeadlineSeconds"):
                yield Problem(
                    "analysis-jobs",
                    subject,
                    "no activeDeadlineSeconds: a Job that hangs keeps its measurement, and the rollout, "
                    "waiting for ever",
                )
            # Kubernetes' default is 6 (kubernetes.io/docs/concepts/workloads/controllers/job,
            # "Pod backoff failure policy", v1.33).
            if spec.get("backoffLimit", 6) != 0:
                yield Problem(
                    "analysis-jobs",
                    subject,
                    f"backoffLimit {spec.get('backoffLimit', 6)}: a failing check is retried and the "
                    "Job fails only after every retry; the verdict is the first run's (backoffLimit: 0)",
                )


# Canary fields that need a traffic router (argo-rollouts v1.8.3), each with the value upstream
# acts on: scaleDownDelaySeconds set at all and dynamicStableScale true make the Rollout
# InvalidSpec (pkg/apis/rollouts/validation/validation.go:288-293, `canary.TrafficRouting == nil`);
# abortScaleDownDelaySeconds set at all is silently ignored (utils/defaults/defaults.go
# GetAbortScaleDownDelaySecondsOrDefault, rollout/replicaset.go: "basic canary should not use this").
NEEDS_TRAFFIC_ROUTING: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scaleDownDelaySeconds": (
        lambda value: value is not None,
        "the Rollout is InvalidSpec (can only be used with traffic routing)",
    ),
    "dynamicStableScale": (
        lambda value: value is True,
        "the Rollout is InvalidSpec (can only be used with traffic routing)",
    ),
    "abortScaleDownDelaySeconds": (
        lambda value: value is not None,
        "a basic canary ignores it: aborted canary pods are not kept",
    ),
}


@policy("canary-options")
def canary_options_fit_the_strategy(context: Context) -> Iterator[Problem]:
    for rollout in context.of_kind("Rollout"):
        canary = rollout.get("spec", {}).get("strategy", {}).get("canary", {})
        if canary.get("trafficRouting") is not None:
            continue
        for field, (acted_on, consequence) in NEEDS_TRAFFIC_ROUTING.items():
            if acted_on(canary.get(field)):
                yield Problem(
                    "canary-options", describe(rollout), f"{field} without trafficRouting: {consequence}"
                )
        if any(step.get("setCanaryScale") is not None for step in canary.get("steps") or []):
            # pkg/apis/rollouts/validation/validation.go:36, :325-326
            message = "a setCanaryScale step without trafficRouting: the Rollout is InvalidSpec"
            yield Problem("canary-options", describe(rollout), message)
