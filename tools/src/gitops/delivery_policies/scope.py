"""Argo CD's scope: projects permit exactly what their Applications sync, the environments'
project allows this repository and their namespaces only, the ApplicationSet generates exactly
the environments, and every Application follows the bootstrap's revision."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from gitops.delivery import Application, Delivery
from gitops.delivery_policies.base import effective_namespace, group_kind, rule
from gitops.paths import ENVIRONMENTS, namespace
from gitops.policies import Problem
from gitops.render import Manifest, describe


@rule("argocd-scope")
def projects_and_generators_are_exact(delivery: Delivery) -> Iterator[Problem]:
    projects = {
        m["metadata"]["name"]: m for _, m in delivery.owned_objects() if m.get("kind") == "AppProject"
    }
    environment_apps = [a for a in delivery.applications if a.environment]
    for app in delivery.applications:
        subject, name = f"Application/{app.name}", str(app.spec.get("project", "default"))
        if name in projects:
            yield from _permitted(app, projects[name])
        elif name != "default":
            yield Problem("argocd-scope", subject, f"project {name} does not exist", app.parent)
        if app.objects is not None and app.source.get("targetRevision") != delivery.revision:
            message = (
                f"reads revision {app.source.get('targetRevision')}, not the bootstrap's "
                f"({delivery.revision}): a branch bootstrapped for a test would still deploy this from it"
            )
            yield Problem("argocd-scope", subject, message, app.parent)
    for name in sorted({str(a.spec.get("project")) for a in environment_apps} & set(projects)):
        yield from _exactly_the_environments(delivery, projects[name], environment_apps)
    generated = sorted(a.environment or "" for a in environment_apps)
    if generated != sorted(ENVIRONMENTS):
        for appset in sorted(set(delivery.generated_by.values())):
            message = f"generates the environments {generated}, not exactly {sorted(ENVIRONMENTS)}"
            yield Problem("argocd-scope", f"ApplicationSet/{appset}", message, "bootstrap")
    for app in environment_apps:
        if app.environment and app.destination_namespace != namespace(app.environment):
            message = f"deploys into {app.destination_namespace}, not {namespace(app.environment)}"
            yield Problem("argocd-scope", f"Application/{app.name}", message, app.parent)


def _permitted(app: Application, project: Manifest) -> Iterator[Problem]:
    """What Argo CD checks before a sync (controller/sync.go: "... is not permitted in project"),
    the Namespace that CreateNamespace=true makes included (gitops-engine sync_context.go adds it
    as a task before the permission check)."""
    spec, project_name = project.get("spec", {}), project["metadata"]["name"]
    if not any(fnmatchcase(str(app.source.get("repoURL")), str(r)) for r in spec.get("sourceRepos") or []):
        message = f"source {app.source.get('repoURL')} is not in the sourceRepos of project {project_name}"
        yield Problem("argocd-scope", f"Application/{app.name}", message, app.parent)
    destinations = [str(d.get("namespace", "")) for d in spec.get("destinations") or []]
    synced = list(app.objects or ())
    if "CreateNamespace=true" in app.sync_options:
        synced.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.destination_namespace}}
        )
    for manifest in synced:
        lands_in = effective_namespace(manifest, app)
        if not group_kind_permitted(spec, *group_kind(manifest), namespaced=lands_in is not None):
            message = (
                f"{manifest['kind']} is not permitted by project {project_name}: Argo CD refuses the sync"
            )
            yield Problem("argocd-scope", describe(manifest), message, app.name)
        if lands_in is not None and not any(fnmatchcase(lands_in, d) for d in destinations):
            message = f"namespace {lands_in} is not a destination of project {project_name}"
            yield Problem("argocd-scope", describe(manifest), message, app.name)


def group_kind_permitted(spec: dict[str, Any], group: str, kind: str, *, namespaced: bool) -> bool:
    """Argo CD's AppProject.IsGroupKindPermitted (v3.1 pkg/apis/application/v1alpha1/
    app_project_types.go): a namespaced kind is allowed when the whitelist is absent or lists it;
    a cluster-scoped one only when listed; a blacklist entry always refuses."""
    prefix = "namespaceResource" if namespaced else "clusterResource"
    whitelist, blacklist = spec.get(f"{prefix}Whitelist"), spec.get(f"{prefix}Blacklist") or []
    white = (namespaced and whitelist is None) or _listed(whitelist or [], group, kind)
    return white and not _listed(blacklist, group, kind)


def _listed(entries: list[dict[str, Any]], group: str, kind: str) -> bool:
    """types.go isResourceInList: Go filepath.Match on kind, then on group."""
    return any(
        fnmatchcase(kind, str(e.get("kind", ""))) and fnmatchcase(group, str(e.get("group", "")))
        for e in entries
    )


def _exactly_the_environments(
    delivery: Delivery, project: Manifest, apps: list[Application]
) -> Iterator[Problem]:
    spec, subject = project.get("spec", {}), describe(project)
    if spec.get("sourceRepos") != [delivery.repo_url]:
        message = (
            f"sourceRepos {spec.get('sourceRepos')} are not exactly this repository ({delivery.repo_url})"
        )
        yield Problem("argocd-scope", subject, message, "bootstrap")
    namespaces = sorted(str(d.get("namespace")) for d in spec.get("destinations") or [])
    wanted = sorted(a.destination_namespace for a in apps)
    if namespaces != wanted:
        message = f"destinations {namespaces} are not exactly the environments' namespaces {wanted}"
        yield Problem("argocd-scope", subject, message, "bootstrap")
    cluster_kinds = {(w.get("group", ""), w.get("kind")) for w in spec.get("clusterResourceWhitelist") or []}
    if not cluster_kinds <= {("", "Namespace")}:
        message = "may create cluster-scoped objects other than the environments' Namespaces"
        yield Problem("argocd-scope", subject, message, "bootstrap")
