"""Fields a controller owns are absent from git, or ignored and respected by the sync.

`ignoreDifferences` alone only hides the diff; the sync still applies git's value unless
RespectIgnoreDifferences=true (Argo CD docs/user-guide/sync-options.md, "Respect ignore
differences configs"), and then only for objects that already exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gitops.delivery import Application, Delivery
from gitops.delivery_policies.base import group_kind, resource_options, rule
from gitops.paths import HASH_LABEL
from gitops.policies import Problem
from gitops.render import Manifest, describe

RESPECT = "RespectIgnoreDifferences=true"


@rule("controller-owned-fields")
def controllers_own_their_fields(delivery: Delivery) -> Iterator[Problem]:
    for app in delivery.applications:
        objects = list(app.objects or ())
        for workload, scaler in _autoscaled(objects):
            if "replicas" in workload.get("spec", {}) and not _ignored_and_respected(
                app, workload, "/spec/replicas"
            ):
                message = (
                    f"spec.replicas is in git while {describe(scaler)} owns it: each sync resets the "
                    "replica count, mid-release too"
                )
                yield Problem("controller-owned-fields", describe(workload), message, app.name)
        for service in _rollout_services(objects):
            pointer = f"/spec/selector/{HASH_LABEL}"
            if _server_side_applied(app, service) and not _ignored_and_respected(app, service, pointer):
                # Service.spec.selector is `+mapType=atomic` (k8s.io/api core/v1 types.go), and
                # Argo CD applies with force: the whole map is replaced (argo-cd #20306).
                message = (
                    f"Argo Rollouts adds {HASH_LABEL} to this selector; a server-side apply replaces the "
                    "whole (atomic) selector and drops it at every self-heal: apply it client-side "
                    "(argocd.argoproj.io/sync-options: ServerSideApply=false) or ignore and respect the key"
                )
                yield Problem("controller-owned-fields", describe(service), message, app.name)
        if RESPECT not in app.sync_options:
            for manifest in objects:
                for pointer in _ignored_pointers(app, manifest):
                    if _resolves(manifest, pointer):
                        message = (
                            f"ignoreDifferences hides {pointer}, but without {RESPECT} every sync still "
                            "applies git's value"
                        )
                        yield Problem("controller-owned-fields", describe(manifest), message, app.name)


def _autoscaled(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    for scaler in objects:
        if scaler.get("kind") in {"ScaledObject", "HorizontalPodAutoscaler"}:
            target = scaler.get("spec", {}).get("scaleTargetRef", {})
            for workload in objects:
                if (workload.get("kind"), workload["metadata"]["name"]) == (
                    target.get("kind"),
                    target.get("name"),
                ):
                    yield workload, scaler


def _rollout_services(objects: list[Manifest]) -> Iterator[Manifest]:
    names = set()
    for rollout in (m for m in objects if m.get("kind") == "Rollout"):
        canary = rollout.get("spec", {}).get("strategy", {}).get("canary", {})
        names |= {canary[field] for field in ("stableService", "canaryService") if canary.get(field)}
    return (m for m in objects if m.get("kind") == "Service" and m["metadata"]["name"] in names)


def _server_side_applied(app: Application, manifest: Manifest) -> bool:
    """gitops-engine shouldUseServerSideApply: a resource's ServerSideApply=false wins."""
    own = resource_options(manifest)
    return "ServerSideApply=false" not in own and "ServerSideApply=true" in app.sync_options | own


def _ignored_pointers(app: Application, manifest: Manifest) -> Iterator[str]:
    group, kind = group_kind(manifest)
    name = manifest["metadata"]["name"]
    for entry in app.spec.get("ignoreDifferences") or []:
        if (
            entry.get("kind") == kind
            and entry.get("group", "") in {group, "*"}
            and entry.get("name", name) == name
        ):
            yield from entry.get("jsonPointers") or []


def _ignored_and_respected(app: Application, manifest: Manifest, pointer: str) -> bool:
    """Ignored by a JSON pointer at or above the field, and respected by the sync."""
    return RESPECT in app.sync_options and any(
        pointer == p or pointer.startswith(p.rstrip("/") + "/") for p in _ignored_pointers(app, manifest)
    )


def _resolves(manifest: Manifest, pointer: str) -> bool:
    node: Any = manifest
    for raw in pointer.strip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True
