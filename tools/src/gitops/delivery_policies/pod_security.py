"""Every environment's namespace enforces the restricted Pod Security Standard, so a pod that
asks for more than the classifier needs (root, a host path, privilege escalation, a capability)
is refused at admission, whatever object creates it (Kubernetes v1.33 docs, "Pod Security
Admission": the `pod-security.kubernetes.io/<mode>: <level>` namespace labels).

Argo CD creates these namespaces (CreateNamespace=true), so the labels come from the
Application's `syncPolicy.managedNamespaceMetadata`; Argo CD v3.1.8 applies that metadata only
with CreateNamespace=true (controller/sync.go, `HasOption("CreateNamespace=true")` adds
`syncNamespace`; controller/sync_namespace.go sets the labels).
"""

from __future__ import annotations

from collections.abc import Iterator

from gitops.delivery import Delivery
from gitops.delivery_policies.base import rule
from gitops.policies import Problem

ENFORCE = "pod-security.kubernetes.io/enforce"
LEVEL = "restricted"


@rule("pod-security-restricted")
def environments_enforce_restricted(delivery: Delivery) -> Iterator[Problem]:
    for app in delivery.applications:
        if not app.environment:
            continue
        subject = f"Application/{app.name}"
        labels = (app.sync_policy.get("managedNamespaceMetadata") or {}).get("labels") or {}
        if labels.get(ENFORCE) != LEVEL:
            message = (
                f"namespace {app.destination_namespace} does not enforce the {LEVEL} Pod Security "
                f"Standard: set syncPolicy.managedNamespaceMetadata.labels {ENFORCE}: {LEVEL}"
            )
            yield Problem("pod-security-restricted", subject, message, app.parent)
        elif "CreateNamespace=true" not in app.sync_options:
            message = "managedNamespaceMetadata without CreateNamespace=true: Argo CD ignores it"
            yield Problem("pod-security-restricted", subject, message, app.parent)
