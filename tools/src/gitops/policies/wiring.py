"""References between objects: selectors, ports and names resolve to something that exists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gitops.paths import HASH_LABEL
from gitops.policies.base import (
    Context,
    Problem,
    matches,
    namespace_of,
    pod_labels,
    pod_secrets,
    pod_spec,
    policy,
    provided_secrets,
)
from gitops.render import Manifest, describe


@policy("selectors")
def selectors_match_pods(context: Context) -> Iterator[Problem]:
    template_labels = [pod_labels(w) for w in context.pod_owners()]
    for service in context.of_kind("Service"):
        selector = service.get("spec", {}).get("selector", {})
        if not any(matches(selector, labels) for labels in template_labels):
            yield Problem("selectors", describe(service), f"selector {selector} matches no pod template")
    for policy_ in context.of_kind("NetworkPolicy"):
        selector = policy_.get("spec", {}).get("podSelector", {}).get("matchLabels", {})
        if not any(matches(selector, labels) for labels in template_labels):
            yield Problem("selectors", describe(policy_), f"podSelector {selector} matches no pod template")
    service_labels = [s.get("metadata", {}).get("labels", {}) for s in context.of_kind("Service")]
    for monitor in context.of_kind("ServiceMonitor"):
        selector = monitor.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not any(matches(selector, labels) for labels in service_labels):
            yield Problem("selectors", describe(monitor), f"selector {selector} matches no Service")
    for workload in context.workloads():
        selector = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not matches(selector, pod_labels(workload)):
            yield Problem(
                "selectors", describe(workload), f"selector {selector} does not match its own pod labels"
            )


@policy("ports")
def service_ports_exist(context: Context) -> Iterator[Problem]:
    for service in context.of_kind("Service"):
        selector = service.get("spec", {}).get("selector", {})
        workloads = [w for w in context.workloads() if matches(selector, pod_labels(w))]
        ports: set[str | int] = set()
        for workload in workloads:
            for container in pod_spec(workload).get("containers", []):
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


@policy("references")
def references_resolve(context: Context) -> Iterator[Problem]:
    """Every name one object gives another resolves, as the controllers that follow it require."""
    services, ingresses = context.named("Service"), context.named("Ingress")
    for rollout in context.of_kind("Rollout"):
        yield from _rollout_references(rollout, services, ingresses)
    for ingress in ingresses.values():
        for backend in _ingress_backends(ingress):
            yield from _service_port_exists(
                describe(ingress), services, backend["name"], backend.get("port", {})
            )
    for monitor in context.of_kind("ServiceMonitor"):
        selector = monitor.get("spec", {}).get("selector", {}).get("matchLabels", {})
        selected = [
            s for s in services.values() if matches(selector, s.get("metadata", {}).get("labels", {}))
        ]
        names = {p.get("name") for s in selected for p in s.get("spec", {}).get("ports", [])}
        for endpoint in monitor.get("spec", {}).get("endpoints", []):
            if "port" in endpoint and selected and endpoint["port"] not in names:
                yield Problem(
                    "references",
                    describe(monitor),
                    f"endpoint port {endpoint['port']!r} is not a port name of the Services it selects: "
                    "nothing is scraped",
                )
    secrets = provided_secrets(context.manifests)
    accounts = set(context.named("ServiceAccount")) | {"default"}
    for workload in context.pod_owners():
        spec = pod_spec(workload)
        account = spec.get("serviceAccountName", "default")
        if account not in accounts:
            yield Problem("references", describe(workload), f"serviceAccountName {account} does not exist")
        for reader, name in pod_secrets(workload):
            if name not in secrets:
                yield Problem(
                    "references",
                    describe(workload),
                    f"{reader} reads Secret {name}, which neither a Secret nor an ExternalSecret here "
                    "provides: the pods never start",
                )


def _rollout_references(
    rollout: Manifest, services: dict[str, Manifest], ingresses: dict[str, Manifest]
) -> Iterator[Problem]:
    canary = rollout.get("spec", {}).get("strategy", {}).get("canary", {})
    labels = pod_labels(rollout)
    for field in ("stableService", "canaryService"):
        name = canary.get(field)
        if not name:
            continue
        if name not in services:
            yield Problem("references", describe(rollout), f"{field} {name} does not exist")
            continue
        selector = services[name].get("spec", {}).get("selector", {})
        # argo-rollouts v1.8.3 pkg/apis/rollouts/validation/validation_references.go ValidateService:
        # every selector key but the hash must be a pod template label ("has unmatch label").
        for key, value in selector.items():
            if key == HASH_LABEL:
                yield Problem(
                    "references",
                    f"Service/{name}",
                    f"selector names {HASH_LABEL}, which the Rollouts controller sets: git and the "
                    "controller would fight over it",
                )
            elif labels.get(key) != value:
                yield Problem(
                    "references",
                    describe(rollout),
                    f"{field} {name} selects {key}={value}, not a label of the pod template: the Rollout is "
                    "InvalidSpec",
                )
    nginx = canary.get("trafficRouting", {}).get("nginx")
    if nginx:
        stable_ingress, stable_service = nginx.get("stableIngress"), canary.get("stableService")
        if stable_ingress not in ingresses:
            yield Problem(
                "references", describe(rollout), f"nginx stableIngress {stable_ingress} does not exist"
            )
        elif not any(b["name"] == stable_service for b in _ingress_backends(ingresses[stable_ingress])):
            # rollout/trafficrouting/nginx/nginx.go buildCanaryIngress: the same message upstream.
            yield Problem(
                "references",
                describe(rollout),
                f"ingress `{stable_ingress}` has no rules using service {stable_service} backend: no canary "
                "Ingress can be made",
            )


def _ingress_backends(ingress: Manifest) -> Iterator[dict[str, Any]]:
    for rule in ingress.get("spec", {}).get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            service = path.get("backend", {}).get("service")
            if service:
                yield service


def _service_port_exists(
    subject: str, services: dict[str, Manifest], name: str, port: dict[str, Any]
) -> Iterator[Problem]:
    if name not in services:
        yield Problem("references", subject, f"backend Service {name} does not exist")
        return
    ports = services[name].get("spec", {}).get("ports", [])
    wanted = port.get("name", port.get("number"))
    if not any(wanted in (p.get("name"), p.get("port")) for p in ports):
        yield Problem("references", subject, f"backend Service {name} has no port {wanted!r}")


@policy("scoped-queries")
def autoscaler_queries_stay_in_their_namespace(context: Context) -> Iterator[Problem]:
    """A scaler's Prometheus query scoped to another namespace scales on another environment."""
    for scaler in context.of_kind("ScaledObject"):
        own = namespace_of(scaler)
        for trigger in scaler.get("spec", {}).get("triggers", []):
            if trigger.get("type") != "prometheus":
                continue
            query = str(trigger.get("metadata", {}).get("query", ""))
            scoped = re.findall(r'namespace\s*=\s*"([^"]*)"', query)
            if not scoped:
                yield Problem(
                    "scoped-queries", describe(scaler), f"query {query!r} is not scoped to a namespace"
                )
            elif set(scoped) != {own}:
                yield Problem(
                    "scoped-queries",
                    describe(scaler),
                    f"query reads namespace {', '.join(sorted(set(scoped)))}, not its own ({own}): it would "
                    "scale on another environment's load",
                )
