"""The registry of rules across Applications, and the helpers they share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gitops.cluster_facts import CHART_SECRET_VALUES, CLUSTER_SCOPED, GroupKind
from gitops.delivery import Application, Delivery
from gitops.policies import Problem
from gitops.policies.base import namespace_of, registrar
from gitops.render import Manifest

Rule = Callable[[Delivery], Iterator[Problem]]
RULES: dict[str, Rule] = {}
rule = registrar(RULES)
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def check(delivery: Delivery) -> list[Problem]:
    return [problem for rule_ in RULES.values() for problem in rule_(delivery)]


def group_kind(manifest: Manifest) -> GroupKind:
    return str(manifest.get("apiVersion", "")).rpartition("/")[0], str(manifest.get("kind", ""))


def effective_namespace(manifest: Manifest, app: Application | None) -> str | None:
    """Where an object lands: its own namespace, else its Application's destination."""
    if group_kind(manifest) in CLUSTER_SCOPED:
        return None
    return namespace_of(manifest, app.destination_namespace if app else "default")


def resource_options(manifest: Manifest) -> set[str]:
    """Sync options an object sets for itself (the argocd.argoproj.io/sync-options annotation)."""
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    return {option.strip() for option in str(annotations.get(SYNC_OPTIONS, "")).split(",") if option.strip()}


def synced_objects(delivery: Delivery) -> Iterator[tuple[Application, Manifest]]:
    for app in delivery.applications:
        for manifest in app.objects or ():
            yield app, manifest


def strings(node: Any, path: str = "", key: str = "") -> Iterator[tuple[str, str, str]]:
    """(dotted path, last key, value) of every string in a document."""
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield from strings(value, f"{path}.{child_key}" if path else str(child_key), str(child_key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, f"{path}[{index}]", key)
    elif isinstance(node, str):
        yield path, key, node


def value_at(app: Application, path: tuple[str, ...]) -> Any:
    """The Helm value at `path` of what Argo CD renders the Application's chart with (None: unset)."""
    node: Any = app.values
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def chart_secrets(app: Application) -> Iterator[tuple[str, str]]:
    """(values path, Secret name) for each Secret an upstream chart's pods need with its values
    (cluster_facts.CHART_SECRET_VALUES), in the Application's destination namespace."""
    for path in CHART_SECRET_VALUES.get((str(app.source.get("repoURL")), str(app.source.get("chart"))), ()):
        node = value_at(app, path)
        for name in node if isinstance(node, list) else [node]:
            if isinstance(name, str) and name:
                yield ".".join(path), name
