"""The chart installed on its own, as `helm install classifier <chart>` does on a plain cluster:
rendered by real Helm with its defaults (and the variants below), then held to an environment's
checks. With none of the add-ons a plain cluster lacks, nothing it renders may need a CRD: such an
object would fail the install (`no matches for kind`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python

from gitops.argocd_sources import helm_manifests, merged_values
from gitops.render import Manifest, describe
from gitops.schemas import CRD_GROUPS

CHART = Path("rollouts")
RELEASE = "classifier"
NAMESPACE = "classifier"

# CI publishes the chart with image.digest set to the image it built (.github/workflows/ci.yml,
# job chart); any digest stands for it here, only its form is checked.
PUBLISHED = {"image": {"digest": "sha256:" + "0" * 64}}

# Variant name -> values given to `helm install` (the published chart's values beneath them).
VARIANTS: dict[str, dict[str, Any]] = {
    "standalone": {},  # `helm install classifier <chart>`: no add-on at all
    # Argo Rollouts alone: the canary without KEDA (an HPA scales the Rollout) or the others.
    "standalone-argo-rollouts": {"platform": {"argoRollouts": True}},
}


class StandaloneError(RuntimeError):
    """The chart did not render with these values; the message is Helm's."""


def render(root: Path, values: dict[str, Any]) -> list[Manifest]:
    chart = helm_python.Chart.load(root / CHART)
    try:
        rendered = chart.render(
            merged_values(PUBLISHED, values), name=RELEASE, namespace=NAMESPACE, is_install=True
        )
    except helm_python.HelmError as error:
        raise StandaloneError(f"helm install {RELEASE} {CHART}: {error}") from error
    finally:
        chart.close()
    return helm_manifests(rendered)


LINT_INFO = 1  # support.InfoSev; 2 WarningSev, 3 ErrorSev (helm v3.18.4 pkg/lint/support/message.go:24-30)


def lint(root: Path) -> list[str]:
    """`helm lint --strict` of the chart: its warnings and errors (INFO, such as "icon is
    recommended", are not problems)."""
    report = helm_python.lint(root / CHART, strict=True)
    return [
        f"{CHART}/{message['path']}: {message['error']} (helm-lint)"
        for message in report["messages"]
        if message["severity"] > LINT_INFO
    ]


# The API group of each add-on the chart's `platform` values switch on.
PLATFORM_GROUPS = {
    "argoRollouts": "argoproj.io",
    "keda": "keda.sh",
    "externalSecrets": "external-secrets.io",
    "prometheusOperator": "monitoring.coreos.com",
    "kyverno": "kyverno.io",
}


def needing_a_crd(manifests: list[Manifest], values: dict[str, Any]) -> list[str]:
    """Objects whose kind needs a CRD no add-on switched on in `values` installs (rule
    no-crd-standalone): on a cluster without it the install fails."""
    switched_on = {PLATFORM_GROUPS[name] for name, on in values.get("platform", {}).items() if on}
    return [
        f"{describe(m)}: {m.get('apiVersion')} needs a CRD the cluster lacks (no-crd-standalone)"
        for m in manifests
        if str(m.get("apiVersion", "")).rpartition("/")[0] in CRD_GROUPS - switched_on
    ]
