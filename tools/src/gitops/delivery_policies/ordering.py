"""Order: the CRDs, namespaces and Secrets an Application needs exist before what needs them."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from gitops.cluster_facts import (
    CHART_CRDS,
    CHART_CUSTOM_RESOURCES,
    PLATFORM_INSTALL_SECONDS,
    PREEXISTING_NAMESPACES,
    PREINSTALLED_CRDS,
    GroupKind,
)
from gitops.delivery import Application, Delivery, wave_of
from gitops.delivery_policies.base import (
    chart_secrets,
    effective_namespace,
    group_kind,
    resource_options,
    rule,
    synced_objects,
    value_at,
)
from gitops.durations import duration_seconds
from gitops.policies import Problem
from gitops.policies.base import pod_secrets, provided_secret
from gitops.render import Manifest, describe
from gitops.schemas import CRD_GROUPS

SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"


def installers(delivery: Delivery) -> dict[GroupKind, list[Application]]:
    """Which Application installs each CRD: an upstream chart with its CRDs switched on."""
    found: dict[GroupKind, list[Application]] = defaultdict(list)
    for app in delivery.applications:
        crds = CHART_CRDS.get((str(app.source.get("repoURL")), str(app.source.get("chart"))))
        if crds is not None and _switched_on(app, crds.switch):
            for kind in crds.kinds:
                found[kind].append(app)
    return found


def _switched_on(app: Application, switch: tuple[str, ...] | None) -> bool:
    """CRDs are installed unless the values turn them off (the charts' default is on)."""
    value = value_at(app, switch) if switch else None
    return value is None or value is True


def retry_seconds(app: Application) -> float:
    """How long a sync keeps retrying: before retry n Argo CD waits duration * factor^n, capped at
    maxDuration (pkg/apis/application/v1alpha1/types.go NextRetryAt); without `retry` an
    automated sync retries 5 times from 5s, factor 2, up to 3m (controller/appcontroller.go)."""
    retry = app.sync_policy.get("retry") or {"limit": 5}
    limit = int(retry.get("limit", 0))
    if limit < 0:
        return float("inf")
    backoff = retry.get("backoff") or {}
    duration, cap = _seconds(backoff.get("duration", "5s")), _seconds(backoff.get("maxDuration", "3m"))
    factor = int(backoff.get("factor", 2))
    return float(sum(min(duration * factor**attempt, cap) for attempt in range(limit)))


def _seconds(value: Any) -> float:
    """Argo CD's Backoff durations: a Go duration, or a bare number of seconds."""
    text = str(value)
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else duration_seconds(text) or 0.0


def ancestry(delivery: Delivery, app: Application) -> list[tuple[str, int]]:
    """(Application, its wave in its parent's sync), from the app up to the bootstrap."""
    chain: list[tuple[str, int]] = []
    current: Application | None = app
    while current is not None:
        chain.append((current.name, current.wave))
        current = delivery.application(current.parent)
    return chain


Position = list[tuple[str, int]]


def position(delivery: Delivery, app: Application, manifest: Manifest | None = None) -> Position:
    """Where something is synced: (object, its wave in the Application's sync) if an object, then
    (Application, its wave in its parent's sync) up to the bootstrap."""
    chain = ancestry(delivery, app)
    return [(f"object {describe(manifest)}", wave_of(manifest)), *chain] if manifest is not None else chain


def comes_before(first: Position, then: Position) -> bool:
    """Whether, in the sync where the two paths meet, `first` is in an earlier wave than `then`
    (gitops-engine applies waves in order, each once the one before is healthy)."""
    above = [name for name, _ in first]
    for index in range(1, len(then)):
        if then[index][0] in above:
            meet = above.index(then[index][0])
            return meet > 0 and first[meet - 1][1] < then[index - 1][1]
    return False


def synced_after(delivery: Delivery, user: Application, manifest: Manifest, installer: Application) -> bool:
    """Whether what holds the custom resource comes in a later wave than what holds the installer."""
    return comes_before(position(delivery, installer), position(delivery, user, manifest))


@rule("crd-before-use")
def custom_resources_wait_for_their_crd(delivery: Delivery) -> Iterator[Problem]:
    """Argo CD refuses a whole sync while one of its kinds is unknown ("one or more
    synchronization tasks are not valid", gitops-engine pkg/sync/sync_context.go getSyncTasks),
    unless the CRD is in the same sync or SkipDryRunOnMissingResource=true; the apply then fails
    until the CRD exists, and a failed revision is not retried on its own (controller/
    appcontroller.go autoSync, "Skipping auto-sync: failed previous sync attempt"). So a custom
    resource whose CRD another Application installs is synced after it, skips the dry run, and
    its Application retries for longer than the platform takes to install."""
    by_kind = installers(delivery)
    slow: set[str] = set()
    for app, manifest in custom_resources(delivery):
        kind = group_kind(manifest)
        if not _is_custom(kind) or kind in PREINSTALLED_CRDS or _defines_crd(app, kind):
            continue
        subject = describe(manifest)
        if not by_kind.get(kind):
            message = f"no Application installs the CRD of {kind[1]}.{kind[0]}: the sync can never succeed"
            yield Problem("crd-before-use", subject, message, app.name)
            continue
        installer = by_kind[kind][0]
        if SKIP_DRY_RUN not in app.sync_options | resource_options(manifest):
            message = (
                f"its CRD comes from Application {installer.name}; Argo CD refuses the whole sync while "
                f"the kind is unknown: set {SKIP_DRY_RUN}"
            )
            yield Problem("crd-before-use", subject, message, app.name)
        if not synced_after(delivery, app, manifest, installer):
            message = f"is not synced in a wave after Application {installer.name}, which installs its CRD"
            yield Problem("crd-before-use", subject, message, app.name)
        if retry_seconds(app) < PLATFORM_INSTALL_SECONDS and app.name not in slow:
            slow.add(app.name)
            message = (
                f"retries for {retry_seconds(app):.0f}s, less than the {PLATFORM_INSTALL_SECONDS}s the "
                f"platform may take to install its CRDs ({installer.name}): a failed revision is not retried"
            )
            yield Problem("crd-before-use", f"Application/{app.name}", message, app.name)


def custom_resources(delivery: Delivery) -> Iterator[tuple[Application, Manifest]]:
    """What each Application syncs: its rendered objects, or for an upstream chart the custom
    resources it is declared to render with its values (cluster_facts.CHART_CUSTOM_RESOURCES)."""
    yield from synced_objects(delivery)
    for app in delivery.applications:
        declared = CHART_CUSTOM_RESOURCES.get(
            (str(app.source.get("repoURL")), str(app.source.get("chart"))), []
        )
        for (group, kind), switches in declared:
            if all(value_at(app, switch) is True for switch in switches):
                name = f"{app.source.get('chart')}-chart"
                yield app, {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": name}}


def _is_custom(kind: GroupKind) -> bool:
    return kind[0] in CRD_GROUPS or any(kind in crds.kinds for crds in CHART_CRDS.values())


def _defines_crd(app: Application, kind: GroupKind) -> bool:
    return any(
        m.get("kind") == "CustomResourceDefinition"
        and (m.get("spec", {}).get("group"), m.get("spec", {}).get("names", {}).get("kind")) == kind
        for m in app.objects or ()
    )


@rule("namespace-exists")
def namespaces_exist_or_are_created(delivery: Delivery) -> Iterator[Problem]:
    """CreateNamespace=true creates only the Application's destination namespace (gitops-engine
    autoCreateNamespace); any other namespace must exist first or be a Namespace in the same
    sync, else the apply fails with `namespaces "..." not found`."""
    for app in delivery.applications:
        created = {m["metadata"]["name"] for m in app.objects or () if group_kind(m) == ("", "Namespace")}
        if "CreateNamespace=true" in app.sync_options:
            created.add(app.destination_namespace)
        needed: dict[str | None, str] = (
            {effective_namespace(m, app): describe(m) for m in app.objects}
            if app.objects is not None
            else {app.destination_namespace: f"Application/{app.name}"}
        )
        for namespace, subject in needed.items():
            if namespace is not None and namespace not in created | PREEXISTING_NAMESPACES:
                message = (
                    f"namespace {namespace} neither exists before Argo CD syncs nor is created by this "
                    "Application (CreateNamespace=true creates only its destination namespace)"
                )
                yield Problem("namespace-exists", subject, message, app.name)


@rule("secret-before-use")
def secrets_exist_before_what_needs_them(delivery: Delivery) -> Iterator[Problem]:
    """A pod whose Secret is missing never starts, and an ExternalSecret whose store is missing never
    becomes ready. A sync applies the next wave only once every resource of the ones before is
    healthy, and "an application can have resources that are unhealthy in the first wave, [so] it may
    be that the app can never get to healthy" (argo-cd v3.1.8 docs/user-guide/sync-waves.md); with
    Applications' health checked (cluster/argocd-values.yaml) that holds up the app of apps too. So
    if what needs a Secret or store comes in an earlier wave than what creates it, the first install
    deadlocks: what creates it comes in the same wave or before, where their paths meet."""
    makers: dict[tuple[str, str | None, str], list[tuple[Application, Manifest]]] = defaultdict(list)
    for app, manifest in synced_objects(delivery):
        secret = provided_secret(manifest)
        if secret is not None:
            makers["Secret", effective_namespace(manifest, app), secret].append((app, manifest))
        if group_kind(manifest) == ("external-secrets.io", "ClusterSecretStore"):
            makers["ClusterSecretStore", None, str(manifest["metadata"]["name"])].append((app, manifest))
        if group_kind(manifest) == ("external-secrets.io", "SecretStore"):
            store = ("SecretStore", effective_namespace(manifest, app), str(manifest["metadata"]["name"]))
            makers[store].append((app, manifest))
    for app, needer, reader, need in _secret_needs(delivery):
        found = makers.get(need, [])
        where = position(delivery, app, needer)
        if found and all(comes_before(where, position(delivery, *maker)) for maker in found):
            maker_app, maker = found[0]
            subject = describe(needer) if needer is not None else f"Application/{app.name}"
            message = (
                f"{reader} needs {need[0]} {need[2]}, which {describe(maker)} (Application "
                f"{maker_app.name}) creates in a later wave: this never becomes healthy, so that wave "
                "never comes"
            )
            owner = app.name if needer is not None else app.parent
            yield Problem("secret-before-use", subject, message, owner)


def _secret_needs(
    delivery: Delivery,
) -> Iterator[tuple[Application, Manifest | None, str, tuple[str, str | None, str]]]:
    """(Application, object or None for an upstream chart, what reads it, (kind, namespace, name))."""
    for app in delivery.applications:
        for path, name in chart_secrets(app):
            yield app, None, path, ("Secret", app.destination_namespace, name)
    for app, manifest in synced_objects(delivery):
        namespace = effective_namespace(manifest, app)
        for reader, name in pod_secrets(manifest):
            yield app, manifest, reader, ("Secret", namespace, name)
        if group_kind(manifest) == ("external-secrets.io", "ExternalSecret"):
            # secretStoreRef.kind defaults to SecretStore, in the ExternalSecret's namespace (the
            # external-secrets v1 CRD).
            store = (manifest.get("spec") or {}).get("secretStoreRef") or {}
            kind = str(store.get("kind") or "SecretStore")
            where = None if kind == "ClusterSecretStore" else namespace
            yield app, manifest, "spec.secretStoreRef", (kind, where, str(store.get("name")))
