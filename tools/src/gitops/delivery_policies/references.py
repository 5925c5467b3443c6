"""What one Application names in another resolves: the ClusterSecretStore an ExternalSecret
reads, the selectors Prometheus loads ServiceMonitors and PrometheusRules by, the Prometheus
Service the analysis templates and the autoscaler query, the metrics API an autoscaler's
CPU or memory trigger reads, and the Secrets prometheus-operator mounts into Alertmanager and
Prometheus."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gitops.cluster_facts import PROMETHEUS_SERVICE
from gitops.delivery import Delivery
from gitops.delivery_policies.base import effective_namespace, rule, strings, synced_objects
from gitops.policies import Problem
from gitops.policies.base import provided_secrets
from gitops.render import describe

IN_CLUSTER_URL = re.compile(r"https?://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)")


@rule("cross-references")
def references_across_applications_resolve(delivery: Delivery) -> Iterator[Problem]:
    stores = {
        m["metadata"]["name"] for _, m in delivery.owned_objects() if m.get("kind") == "ClusterSecretStore"
    }
    selectors = prometheus_selectors(delivery)
    resource_metrics = delivery.chart("metrics-server") is not None
    yield from operator_mounted_secrets_exist(delivery)
    for app, manifest in synced_objects(delivery):
        kind, subject = str(manifest.get("kind")), describe(manifest)
        ref = manifest.get("spec", {}).get("secretStoreRef", {}) if kind == "ExternalSecret" else {}
        if ref.get("kind") == "ClusterSecretStore" and ref.get("name") not in stores:
            yield Problem(
                "cross-references", subject, f"ClusterSecretStore {ref.get('name')} does not exist", app.name
            )
        wanted = selectors.get(kind, {})
        labels = manifest.get("metadata", {}).get("labels") or {}
        if any(labels.get(key) != value for key, value in wanted.items()):
            message = f"lacks the labels {wanted} Prometheus selects {kind}s by: it is never loaded"
            yield Problem("cross-references", subject, message, app.name)
        if kind == "ScaledObject" and not resource_metrics:
            for trigger in manifest.get("spec", {}).get("triggers", []):
                if trigger.get("type") in {"cpu", "memory"}:
                    message = (
                        f"its {trigger['type']} trigger reads the resource metrics API, which no Application "
                        "here serves (no metrics-server): the HPA cannot read it and never scales down"
                    )
                    yield Problem("cross-references", subject, message, app.name)
        for path, _, value in strings(manifest):
            for service, namespace, port in IN_CLUSTER_URL.findall(value):
                if f"{service}.{namespace}:{port}" != PROMETHEUS_SERVICE:
                    found = f"{service}.{namespace}:{port}"
                    message = (
                        f"{path} points at {found}, not the platform's Prometheus ({PROMETHEUS_SERVICE})"
                    )
                    yield Problem("cross-references", subject, message, app.name)


# kube-prometheus-stack values listing Secrets the operator mounts into the pods it creates, each
# as a volume `secret-<name>` (Alertmanager and Prometheus CRDs, spec.secrets: prometheus-operator
# v0.83.0 Documentation/api.md). The volume is not optional, so a missing Secret keeps the pod
# from starting (Kubernetes docs, concepts/configuration/secret, "Optional Secrets").
OPERATOR_MOUNTED_SECRETS = (("alertmanager", "alertmanagerSpec"), ("prometheus", "prometheusSpec"))


def operator_mounted_secrets_exist(delivery: Delivery) -> Iterator[Problem]:
    app = delivery.chart("kube-prometheus-stack")
    if app is None:
        return
    namespace = app.destination_namespace
    here = (m for owner, m in synced_objects(delivery) if effective_namespace(m, owner) == namespace)
    provided = provided_secrets(here)
    values = app.values
    for component, spec in OPERATOR_MOUNTED_SECRETS:
        for name in ((values.get(component) or {}).get(spec) or {}).get("secrets") or []:
            if name not in provided:
                message = (
                    f"{component}.{spec}.secrets names Secret {name}, which nothing here creates in "
                    f"{namespace}: the {component} pods never start"
                )
                yield Problem("cross-references", f"Application/{app.name}", message, app.parent)


def prometheus_selectors(delivery: Delivery) -> dict[str, dict[str, str]]:
    """The labels the platform's Prometheus selects ServiceMonitors and rules by: its values, else
    the chart's default `release: <release>` (…SelectorNilUsesHelmValues: true, 75.15.1)."""
    app = delivery.chart("kube-prometheus-stack")
    if app is None:
        return {}
    spec = app.values.get("prometheus", {}).get("prometheusSpec", {})
    release = {"release": app.name}
    return {
        "ServiceMonitor": (spec.get("serviceMonitorSelector") or {}).get("matchLabels", release),
        "PrometheusRule": (spec.get("ruleSelector") or {}).get("matchLabels", release),
    }
