"""What one Application names in another resolves: the ClusterSecretStore an ExternalSecret
reads, the selectors Prometheus loads ServiceMonitors and PrometheusRules by, the Prometheus
Service the analysis templates and the autoscaler query, the metrics API an autoscaler's
CPU or memory trigger reads, and the Secrets an upstream chart's pods need."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from gitops.cluster_facts import PROMETHEUS_SERVICE
from gitops.delivery import Delivery
from gitops.delivery_policies.base import chart_secrets, effective_namespace, rule, strings, synced_objects
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
    yield from chart_secrets_exist(delivery)
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


def chart_secrets_exist(delivery: Delivery) -> Iterator[Problem]:
    """Each Secret an upstream chart's pods need (cluster_facts.CHART_SECRET_VALUES) is created in
    its namespace by some Application."""
    provided: dict[str | None, set[str]] = defaultdict(set)
    for owner, manifest in synced_objects(delivery):
        provided[effective_namespace(manifest, owner)] |= provided_secrets([manifest])
    for app in delivery.applications:
        namespace = app.destination_namespace
        for path, name in chart_secrets(app):
            if name not in provided[namespace]:
                message = (
                    f"{path} names Secret {name}, which nothing here creates in {namespace}: "
                    "its pods never start"
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
