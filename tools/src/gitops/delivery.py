"""What Argo CD deploys into the cluster, read from git the way Argo CD reads it.

Starting from what `make cluster-up` applies by hand (argocd/bootstrap.yaml and
cluster/secret-store-access.yaml), every Application is followed to its source: a folder of this
repository is rendered as Argo CD's repo server would (a Helm chart with the Application's
value files, parameters and build environment, or a kustomization), and every
ApplicationSet's git directory generator is expanded over this repository's folders. Upstream
Helm charts cannot be rendered offline: what they install is declared in `cluster_facts`.
The result is the input of the cross-Application rules in `delivery_policies`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops.applicationsets import ApplicationSetError, expand_application_set
from gitops.argocd_sources import SourceError, helm_values, render_helm, render_kustomize
from gitops.paths import REPO_ROOT
from gitops.render import Manifest, RenderError

BOOTSTRAP = Path("argocd/bootstrap.yaml")
APPLIED_BY_HAND = (BOOTSTRAP, Path("cluster/secret-store-access.yaml"))
CLUSTER_UP = "cluster-up"  # the owner of what cluster/cluster-up.sh applies


class DeliveryError(RuntimeError):
    """A source Argo CD could not render, or one this model cannot follow; the message says which."""


@dataclass(frozen=True, slots=True)
class Application:
    """An Argo CD Application and what its sync applies (None: an upstream chart, not rendered)."""

    manifest: Manifest
    parent: str
    objects: tuple[Manifest, ...] | None
    environment: str | None = None
    wave: int = 0  # in its parent's sync (an ApplicationSet's, for the Applications it generates)
    values: dict[str, Any] = field(default_factory=dict)  # what Argo CD renders its chart with

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.manifest.get("spec", {}))

    @property
    def source(self) -> dict[str, Any]:
        return dict(self.spec.get("source", {}))

    @property
    def destination_namespace(self) -> str:
        return str(self.spec.get("destination", {}).get("namespace", ""))

    @property
    def sync_policy(self) -> dict[str, Any]:
        return dict(self.spec.get("syncPolicy") or {})

    @property
    def sync_options(self) -> set[str]:
        return set(self.sync_policy.get("syncOptions") or [])


@dataclass(slots=True)
class Delivery:
    """Every Application Argo CD ends up running, and every object each one (or a person) applies."""

    root: Path
    repo_url: str
    revision: str
    applications: list[Application] = field(default_factory=list)
    applied_by_hand: list[Manifest] = field(default_factory=list)
    generated_by: dict[str, str] = field(default_factory=dict)  # Application -> its ApplicationSet

    def application(self, name: str) -> Application | None:
        return next((app for app in self.applications if app.name == name), None)

    def chart(self, chart: str) -> Application | None:
        """The Application installing this upstream chart."""
        return next((app for app in self.applications if app.source.get("chart") == chart), None)

    def owned_objects(self) -> Iterator[tuple[str, Manifest]]:
        """(owner, object) for everything applied: by hand, by an Application's sync."""
        yield from ((CLUSTER_UP, m) for m in self.applied_by_hand)
        for app in self.applications:
            yield from ((app.name, m) for m in app.objects or ())


def wave_of(manifest: Manifest) -> int:
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    return int(annotations.get("argocd.argoproj.io/sync-wave", 0))


def load(root: Path, bootstrap: Manifest | None = None) -> Delivery:
    """Follow the bootstrap Application through every Application and ApplicationSet below it.

    `bootstrap` replaces argocd/bootstrap.yaml, e.g. as cluster/bootstrap-application.sh prints it.
    """
    try:
        return _load(root, bootstrap)
    except (SourceError, ApplicationSetError, RenderError) as error:
        raise DeliveryError(str(error)) from error


def _load(root: Path, bootstrap: Manifest | None) -> Delivery:
    by_hand = [
        doc for path in APPLIED_BY_HAND for doc in yaml.safe_load_all((root / path).read_text()) if doc
    ]
    if bootstrap is not None:
        by_hand = [bootstrap if m.get("kind") == "Application" else m for m in by_hand]
    first = next(m for m in by_hand if m.get("kind") == "Application")
    source = first["spec"]["source"]
    delivery = Delivery(root, str(source["repoURL"]), str(source["targetRevision"]), applied_by_hand=by_hand)
    queue: list[tuple[Manifest, str, str | None, int]] = [(first, CLUSTER_UP, None, 0)]
    while queue:
        manifest, parent, environment, wave = queue.pop(0)
        values = helm_values(manifest, delivery.root) if manifest["spec"]["source"].get("helm") else {}
        app = Application(manifest, parent, _render_source(delivery, manifest), environment, wave, values)
        delivery.applications.append(app)
        for child in app.objects or ():
            if child.get("kind") == "Application":
                queue.append((child, app.name, None, wave_of(child)))
            elif child.get("kind") == "ApplicationSet":
                for generated, env in expand_application_set(delivery.root, delivery.repo_url, child):
                    delivery.generated_by[generated["metadata"]["name"]] = child["metadata"]["name"]
                    queue.append((generated, app.name, env, wave_of(child)))
    return delivery


def _render_source(delivery: Delivery, app: Manifest) -> tuple[Manifest, ...] | None:
    source = app.get("spec", {}).get("source") or {}
    if "chart" in source:
        return None  # an upstream chart: see cluster_facts.CHART_CRDS
    name = app["metadata"]["name"]
    if source.get("repoURL") != delivery.repo_url:
        raise DeliveryError(f"Application/{name}: source {source.get('repoURL')} is not this repository")
    folder = delivery.root / str(source.get("path", ""))
    if (folder / "Chart.yaml").is_file():
        return tuple(render_helm(delivery.root, folder, app))
    if (folder / "kustomization.yaml").is_file():
        return tuple(render_kustomize(folder, source.get("kustomize") or {}))
    raise DeliveryError(
        f"Application/{name}: {source.get('path')} is neither a Helm chart nor a kustomization"
    )


def environment_objects(root: Path, environment: str) -> list[Manifest]:
    """What Argo CD applies for one environment: its generated Application's rendered chart."""
    for app in load(root).applications:
        if app.environment == environment:
            return list(app.objects or ())
    raise DeliveryError(f"no Application deploys environment {environment!r}")


def main(argv: list[str] | None = None) -> int:
    """`gitops-applications`: the Applications Argo CD ends up running, one per line (name, the
    Application that creates it, its wave there, what it deploys); the e2e workflow waits for them."""
    parser = argparse.ArgumentParser(prog="gitops-applications", description="the Applications Argo CD runs")
    parser.add_argument("--root", type=Path, default=REPO_ROOT)
    parser.add_argument("--names", action="store_true", help="names only")
    args = parser.parse_args(argv)
    for app in load(args.root).applications:
        source = app.source.get("path") or f"{app.source.get('chart')} {app.source.get('targetRevision')}"
        print(app.name if args.names else f"{app.name}\t{app.parent}\twave {app.wave}\t{source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
