"""The project's own rules for rendered manifests. Each policy returns problems with a message
that says what is wrong, where, and why it matters; `tools/tests/test_policies.py` breaks a
copy of a real manifest for every one of them and checks the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gitops.render import Manifest, describe

WORKLOAD_KINDS = {"Rollout", "Deployment", "StatefulSet", "DaemonSet"}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
CANARY_SELECTOR = 'rollouts_pod_template_hash="{{args.canary-hash}}"'
GUARDS = ("len(result) > 0", "!isNaN(result[0])")


@dataclass(frozen=True, slots=True)
class Problem:
    policy: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.subject}: {self.message}"


@dataclass(frozen=True, slots=True)
class Context:
    environment: str
    manifests: list[Manifest]

    def of_kind(self, *kinds: str) -> Iterator[Manifest]:
        return (m for m in self.manifests if m.get("kind") in kinds)

    def workloads(self) -> Iterator[Manifest]:
        return self.of_kind(*WORKLOAD_KINDS)


Policy = Callable[[Context], Iterator[Problem]]
POLICIES: dict[str, Policy] = {}


def policy(name: str) -> Callable[[Policy], Policy]:
    def register(function: Policy) -> Policy:
        POLICIES[name] = function
        return function

    return register


def check(context: Context) -> list[Problem]:
    return [problem for rule in POLICIES.values() for problem in rule(context)]


def _pod_spec(workload: Manifest) -> dict[str, Any]:
    return dict(workload.get("spec", {}).get("template", {}).get("spec", {}))


def _pod_labels(workload: Manifest) -> dict[str, str]:
    return dict(workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))


def _containers(workload: Manifest) -> Iterator[dict[str, Any]]:
    spec = _pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


@policy("probes")
def probes_present(context: Context) -> Iterator[Problem]:
    for workload in context.workloads():
        for container in _pod_spec(workload).get("containers", []):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe not in container:
                    yield Problem(
                        "probes",
                        f"{describe(workload)} container {container['name']}",
                        f"no {probe}: Kubernetes cannot tell when it is ready, alive or still starting",
                    )


@policy("resources")
def requests_and_limits(context: Context) -> Iterator[Problem]:
    for workload in context.workloads():
        for container in _containers(workload):
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(section, {}):
                        yield Problem(
                            "resources",
                            f"{describe(workload)} container {container['name']}",
                            f"no {section}.{resource}: scheduling and eviction become guesswork",
                        )


@policy("security")
def hardened_containers(context: Context) -> Iterator[Problem]:
    for workload in context.workloads():
        pod = _pod_spec(workload).get("securityContext", {})
        for container in _containers(workload):
            subject = f"{describe(workload)} container {container['name']}"
            own = container.get("securityContext", {})
            merged = pod | own
            if merged.get("runAsNonRoot") is not True:
                yield Problem("security", subject, "runAsNonRoot is not true")
            if not isinstance(merged.get("runAsUser"), int) or merged.get("runAsUser") == 0:
                yield Problem("security", subject, "runAsUser must be a numeric, non-zero user")
            if own.get("readOnlyRootFilesystem") is not True:
                yield Problem("security", subject, "readOnlyRootFilesystem is not true")
            if own.get("allowPrivilegeEscalation") is not False:
                yield Problem("security", subject, "allowPrivilegeEscalation is not false")
            if "ALL" not in own.get("capabilities", {}).get("drop", []):
                yield Problem("security", subject, "capabilities.drop does not include ALL")
            if merged.get("seccompProfile", {}).get("type") not in {"RuntimeDefault", "Localhost"}:
                yield Problem("security", subject, "seccompProfile is not RuntimeDefault")
        if _pod_spec(workload).get("automountServiceAccountToken") is not False:
            yield Problem("security", describe(workload), "automountServiceAccountToken is not false")


@policy("images")
def pinned_images(context: Context) -> Iterator[Problem]:
    for workload in context.workloads():
        for container in _containers(workload):
            image = str(container.get("image", ""))
            subject = f"{describe(workload)} container {container['name']}"
            name = image.split("@")[0]
            tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
            if tag == "latest":
                yield Problem("images", subject, f"{image} uses the mutable tag :latest")
            elif tag is None and "@" not in image:
                yield Problem("images", subject, f"{image} has neither a tag nor a digest")
            if context.environment in {"staging", "prod"} and not DIGEST.search(image):
                yield Problem(
                    "images",
                    subject,
                    f"{image} is not pinned by digest (@sha256:...), required in {context.environment}",
                )


@policy("targets")
def pdb_and_autoscaler_target_the_rollout(context: Context) -> Iterator[Problem]:
    rollouts = {m["metadata"]["name"]: m for m in context.of_kind("Rollout")}
    for pdb in context.of_kind("PodDisruptionBudget"):
        selector = pdb.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not any(_matches(selector, _pod_labels(r)) for r in rollouts.values()):
            yield Problem("targets", describe(pdb), f"selector {selector} matches no Rollout's pods")
    for scaler in [*context.of_kind("ScaledObject"), *context.of_kind("HorizontalPodAutoscaler")]:
        target = scaler.get("spec", {}).get("scaleTargetRef", {})
        if target.get("kind") != "Rollout" or target.get("name") not in rollouts:
            yield Problem(
                "targets",
                describe(scaler),
                f"scaleTargetRef {target.get('kind')}/{target.get('name')} is not a Rollout here",
            )
        elif target.get("apiVersion") != "argoproj.io/v1alpha1":
            yield Problem(
                "targets", describe(scaler), "scaleTargetRef.apiVersion must be argoproj.io/v1alpha1"
            )


@policy("analysis")
def guarded_canary_analysis(context: Context) -> Iterator[Problem]:
    templates = {m["metadata"]["name"]: m for m in context.of_kind("AnalysisTemplate")}
    for name, template in templates.items():
        for metric in template.get("spec", {}).get("metrics", []):
            subject = f"AnalysisTemplate/{name} metric {metric.get('name')}"
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
            hash_args = [a for a in use.get("args", []) if a.get("name") == "canary-hash"]
            if use and not any(
                a.get("valueFrom", {}).get("podTemplateHashValue") == "Latest" for a in hash_args
            ):
                yield Problem(
                    "analysis",
                    describe(rollout),
                    "canary-hash is not passed as valueFrom.podTemplateHashValue: Latest",
                )


@policy("selectors")
def selectors_match_pods(context: Context) -> Iterator[Problem]:
    pod_labels = [_pod_labels(w) for w in context.workloads()]
    for service in context.of_kind("Service"):
        selector = service.get("spec", {}).get("selector", {})
        if not any(_matches(selector, labels) for labels in pod_labels):
            yield Problem("selectors", describe(service), f"selector {selector} matches no pod template")
    for policy_ in context.of_kind("NetworkPolicy"):
        selector = policy_.get("spec", {}).get("podSelector", {}).get("matchLabels", {})
        if not any(_matches(selector, labels) for labels in pod_labels):
            yield Problem("selectors", describe(policy_), f"podSelector {selector} matches no pod template")
    service_labels = [s.get("metadata", {}).get("labels", {}) for s in context.of_kind("Service")]
    for monitor in context.of_kind("ServiceMonitor"):
        selector = monitor.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not any(_matches(selector, labels) for labels in service_labels):
            yield Problem("selectors", describe(monitor), f"selector {selector} matches no Service")
    for workload in context.workloads():
        selector = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not _matches(selector, _pod_labels(workload)):
            yield Problem(
                "selectors", describe(workload), f"selector {selector} does not match its own pod labels"
            )


@policy("ports")
def service_ports_exist(context: Context) -> Iterator[Problem]:
    for service in context.of_kind("Service"):
        selector = service.get("spec", {}).get("selector", {})
        workloads = [w for w in context.workloads() if _matches(selector, _pod_labels(w))]
        ports: set[str | int] = set()
        for workload in workloads:
            for container in _pod_spec(workload).get("containers", []):
                for port in container.get("ports", []):
                    ports |= {port.get("name", ""), port.get("containerPort", 0)}
        for port in service.get("spec", {}).get("ports", []):
            target = port.get("targetPort", port.get("port"))
            if workloads and target not in ports:
                yield Problem(
                    "ports",
                    describe(service),
                    f"targetPort {target!r} is not a port of the selected containers",
                )
