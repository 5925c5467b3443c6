"""What one Application names in another resolves: the ClusterSecretStore an ExternalSecret
reads, the selectors Prometheus loads ServiceMonitors and PrometheusRules by, the Prometheus
Service the analysis templates and the autoscaler query, and the metrics API an autoscaler's
CPU or memory trigger reads."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gitops.cluster_facts import PROMETHEUS_SERVICE
from gitops.delivery import Delivery
from gitops.delivery_policies.base import rule, strings, synced_objects
from gitops.policies import Problem
from gitops.render import describe

IN_CLUSTER_URL = re.compile(r"https?://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)")


@rule("cross-references")
def references_across_applications_resolve(delivery: Delivery) -> Iterator[Problem]:
    stores = {
        m["metadata"]["name"] for _, m in delivery.owned_objects() if m.get("kind") == "ClusterSecretStore"
    }
    selectors = prometheus_selectors(delivery)
    resource_metrics = any(a.source.get("chart") == "metrics-server" for a in delivery.applications)
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


def prometheus_selectors(delivery: Delivery) -> dict[str, dict[str, str]]:
    """The labels the platform's Prometheus selects ServiceMonitors and rules by: its values, else
    the chart's default `release: <release>` (…SelectorNilUsesHelmValues: true, 75.15.1)."""
    app = next((a for a in delivery.applications if a.source.get("chart") == "kube-prometheus-stack"), None)
    if app is None:
        return {}
    values = (app.source.get("helm") or {}).get("valuesObject") or {}
    spec = values.get("prometheus", {}).get("prometheusSpec", {})
    release = {"release": app.name}
    return {
        "ServiceMonitor": (spec.get("serviceMonitorSelector") or {}).get("matchLabels", release),
        "PrometheusRule": (spec.get("ruleSelector") or {}).get("matchLabels", release),
    }
