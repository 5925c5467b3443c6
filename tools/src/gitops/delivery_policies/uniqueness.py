"""What must be unique in one cluster, whichever Application applies it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from gitops.delivery import Delivery
from gitops.delivery_policies.base import effective_namespace, group_kind, rule
from gitops.policies import Problem
from gitops.render import Manifest, describe

CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary"


@rule("unique-in-cluster")
def one_owner_per_object(delivery: Delivery) -> Iterator[Problem]:
    """Two Applications applying the same object take turns overwriting it (each self-heals)."""
    owners: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for owner, manifest in delivery.owned_objects():
        namespace = effective_namespace(manifest, delivery.application(owner))
        owners[(*group_kind(manifest), namespace, manifest["metadata"]["name"])].append(owner)
    for name, appset in delivery.generated_by.items():
        owners[("argoproj.io", "Application", "argocd", name)].append(f"ApplicationSet/{appset}")
    for (group, kind, namespace, name), found in owners.items():
        where = f"in namespace {namespace}" if namespace else "(cluster-scoped)"
        for owner in found if len(found) > 1 else ():
            others = ", ".join(o for o in found if o != owner) or "itself, twice"
            message = f"{kind}{'.' + group if group else ''} {name} {where} is also applied by {others}"
            yield Problem(
                "unique-in-cluster", f"{kind}/{name}", message + ": each sync overwrites the other", owner
            )


@rule("unique-ingress-host")
def one_ingress_per_host_and_path(delivery: Delivery) -> Iterator[Problem]:
    """ingress-nginx routes a host and path for one Ingress only, across namespaces: its admission
    webhook (on by default, chart 4.13.0) refuses the second one (controller-v1.13.0
    internal/ingress/controller/controller.go checkOverlap: `host "%s" and path "%s" is already
    defined in ingress %s/%s`); without it the oldest Ingress wins (store.go sortIngressSlice).
    An Ingress with `canary: "true"` beside a plain one is exempt."""
    routes: dict[tuple[str, str], list[tuple[str, Manifest]]] = defaultdict(list)
    for owner, manifest in delivery.owned_objects():
        if manifest.get("kind") != "Ingress" or _is_canary(manifest):
            continue
        for host_rule in manifest.get("spec", {}).get("rules", []):
            for path in host_rule.get("http", {}).get("paths", []):
                routes[(host_rule.get("host", "_"), path.get("path", "/"))].append((owner, manifest))
    for (host, path), found in routes.items():
        for owner, manifest in found if len(found) > 1 else ():
            others = ", ".join(f"{o}'s {describe(m)}" for o, m in found if (o, m) != (owner, manifest))
            message = (
                f"host {host} and path {path} are also routed by {others}: ingress-nginx refuses the second "
                "Ingress (host ... is already defined), or serves the oldest one's backend"
            )
            yield Problem("unique-ingress-host", describe(manifest), message, owner)


def _is_canary(ingress: Manifest) -> bool:
    annotations = ingress.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(CANARY_ANNOTATION, "")).lower() == "true"
