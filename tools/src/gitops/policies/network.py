"""The platform's clients reach the ports they need through the NetworkPolicies (Kubernetes
docs, concepts/services-networking/network-policies: a pod is isolated for ingress once a policy
with policyTypes Ingress selects it; then only what some rule allows gets through)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gitops.cluster_facts import INGRESS_CONTROLLER, NAMESPACE_NAME_LABEL, PROMETHEUS, Client
from gitops.policies.base import (
    Context,
    Problem,
    label_selector_matches,
    matches,
    namespace_of,
    pod_labels,
    pod_spec,
    policy,
)
from gitops.render import Manifest, describe


@policy("network-reach")
def platform_clients_reach_their_ports(context: Context) -> Iterator[Problem]:
    services = context.named("Service")
    paths: list[tuple[Manifest, Client, str, Any]] = []
    for ingress in context.of_kind("Ingress"):
        for rule in ingress.get("spec", {}).get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path.get("backend", {}).get("service") or {}
                port = backend.get("port", {})
                paths.append(
                    (
                        ingress,
                        INGRESS_CONTROLLER,
                        backend.get("name", ""),
                        port.get("name", port.get("number")),
                    )
                )
    for monitor in context.of_kind("ServiceMonitor"):
        selector = monitor.get("spec", {}).get("selector", {}).get("matchLabels", {})
        for service in services.values():
            if matches(selector, service.get("metadata", {}).get("labels", {})):
                for endpoint in monitor.get("spec", {}).get("endpoints", []):
                    paths.append((monitor, PROMETHEUS, service["metadata"]["name"], endpoint.get("port")))
    for origin, client, service_name, service_port in paths:
        if service_name not in services or service_port is None:
            continue  # the references policy reports it
        for workload, container_port in _destinations(context, services[service_name], service_port):
            if not _allowed(context, workload, client, container_port):
                port = container_port.get("name") or container_port.get("containerPort")
                yield Problem(
                    "network-reach",
                    describe(origin),
                    f"{client.what} (namespace {client.namespace}) cannot reach port {port} of "
                    f"{describe(workload)}'s pods through Service/{service_name}: no NetworkPolicy admits it",
                )


def _destinations(
    context: Context, service: Manifest, port_ref: Any
) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """(workload, container port) that a Service port leads to."""
    selector = service.get("spec", {}).get("selector", {})
    for port in service.get("spec", {}).get("ports", []):
        if port_ref not in (port.get("name"), port.get("port")):
            continue
        target = port.get("targetPort", port.get("port"))
        for workload in context.workloads():
            if not matches(selector, pod_labels(workload)):
                continue
            for container in pod_spec(workload).get("containers", []):
                for container_port in container.get("ports", []):
                    if target in (container_port.get("name"), container_port.get("containerPort")):
                        yield workload, container_port


def _allowed(context: Context, workload: Manifest, client: Client, container_port: dict[str, Any]) -> bool:
    own_namespace = namespace_of(workload)
    isolating = [
        p
        for p in context.of_kind("NetworkPolicy")
        if label_selector_matches(p.get("spec", {}).get("podSelector"), pod_labels(workload))
        and "Ingress" in (p.get("spec", {}).get("policyTypes") or ["Ingress"])
    ]
    if not isolating:
        return True
    return any(
        _peer_admits(peer, client, namespace_of(p, own_namespace))
        and _port_admits(rule.get("ports"), container_port)
        for p in isolating
        for rule in p.get("spec", {}).get("ingress") or []
        for peer in (rule.get("from") or [{}])
    )


def _peer_admits(peer: dict[str, Any], client: Client, policy_namespace: str) -> bool:
    """One `from` element: namespaceSelector and podSelector together mean both must match; a
    podSelector alone means pods of the policy's own namespace; an empty rule admits everyone."""
    if "ipBlock" in peer:
        return False  # pod IPs are not known here; an ipBlock is not how platform pods are admitted
    namespace_labels = {NAMESPACE_NAME_LABEL: client.namespace}
    if "namespaceSelector" in peer:
        if not label_selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif "podSelector" in peer and client.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or label_selector_matches(peer["podSelector"], client.pod_labels)


def _port_admits(ports: list[dict[str, Any]] | None, container_port: dict[str, Any]) -> bool:
    if not ports:
        return True
    protocol = container_port.get("protocol", "TCP")
    return any(
        rule.get("protocol", "TCP") == protocol
        and (
            "port" not in rule
            or rule["port"] in (container_port.get("name"), container_port.get("containerPort"))
        )
        for rule in ports
    )
