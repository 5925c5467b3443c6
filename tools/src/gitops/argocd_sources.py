"""Render a source of this repository as Argo CD's repo server does: a Helm chart with the
Application's value files, values, parameters and build environment, or a kustomization. Helm here
is v4 (helm-python-sdk); Argo CD v3.1 bundles Helm 3.18, which renders these charts the same.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import helm_python
import yaml

from gitops.render import Manifest, render


class SourceError(RuntimeError):
    """Argo CD could not render this source either; the message says why."""


def build_environment(app: Manifest) -> dict[str, str]:
    """The variables Argo CD's repo server sets when it renders a source (argo-cd v3.1.8
    reposerver/repository/repository.go newEnv; the project as controller/state.go passes it,
    pkg/apis/application/v1alpha1/types.go GetProject). The resolved commit is not known offline:
    the target revision stands in."""
    source = app["spec"]["source"]
    revision = str(source.get("targetRevision", ""))
    return {
        "ARGOCD_APP_NAME": app["metadata"]["name"],
        "ARGOCD_APP_NAMESPACE": str(app["spec"].get("destination", {}).get("namespace", "")),
        "ARGOCD_APP_PROJECT_NAME": str(app["spec"].get("project") or "default"),
        "ARGOCD_APP_REVISION": revision,
        "ARGOCD_APP_REVISION_SHORT": revision[:7],
        "ARGOCD_APP_REVISION_SHORT_8": revision[:8],
        "ARGOCD_APP_SOURCE_PATH": str(source.get("path", "")),
        "ARGOCD_APP_SOURCE_REPO_URL": str(source.get("repoURL", "")),
        "ARGOCD_APP_SOURCE_TARGET_REVISION": revision,
    }


def envsubst(text: str, variables: dict[str, str]) -> str:
    """Argo CD's Env.Envsubst: Go's os.Expand, unknown variables become empty, `$$` is `$`."""
    pattern = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|[A-Za-z0-9_]+)")

    def expand(match: re.Match[str]) -> str:
        name = match.group(2) or match.group(1)
        return "$" if name == "$" else variables.get(name, "")

    return pattern.sub(expand, text)


def helm_values(app: Manifest, root: Path | None = None) -> dict[str, Any]:
    """The values `helm template` gets from Argo CD, lowest first: valueFiles in their order, then
    valuesObject (or values), then parameters as `--set` (argo-cd v3.1.8 util/helm/cmd.go:405-421
    passes the files, then values as the last `--values`; Helm merges `--set` over every file,
    helm v3.18.4 pkg/cli/values/options.go:48-78). Value files are read from this repository
    (`root`), relative to the source's path and never outside the repository (argo-cd v3.1.8
    util/io/path/resolved.go:94-96, :182-183); a missing one fails the render unless
    ignoreMissingValueFiles (reposerver/repository/repository.go:1393-1397)."""
    helm = app["spec"]["source"].get("helm") or {}
    values: dict[str, Any] = {}
    for value_file in helm.get("valueFiles") or []:
        values = _merged(values, _value_file(app, root, str(value_file), helm))
    inline = helm.get("valuesObject") or yaml.safe_load(helm.get("values") or "{}") or {}
    values = _merged(values, copy.deepcopy(inline))
    variables = build_environment(app)
    for parameter in helm.get("parameters") or []:
        expression = f"{parameter['name']}={envsubst(str(parameter.get('value', '')), variables)}"
        parse = (
            helm_python.parse_set_string_values
            if parameter.get("forceString")
            else helm_python.parse_set_string
        )
        _merge(values, parse(expression))
    return values


def _value_file(app: Manifest, root: Path | None, value_file: str, helm: dict[str, Any]) -> dict[str, Any]:
    name = app["metadata"]["name"]
    if root is None or "://" in value_file:
        raise SourceError(f"Application/{name}: value file {value_file} is not in this repository")
    folder = root / str(app["spec"]["source"].get("path", ""))
    path = (root / value_file.lstrip("/") if value_file.startswith("/") else folder / value_file).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SourceError(f"Application/{name}: value file {value_file} resolves outside the repository")
    if not path.is_file():
        if helm.get("ignoreMissingValueFiles"):
            return {}
        raise SourceError(f"Application/{name}: value file {value_file} does not exist")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise SourceError(f"Application/{name}: value file {value_file} is not a mapping")
    return loaded


def _merged(into: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    _merge(into, update)
    return into


def merged_values(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` over a copy of `base`, maps merged key by key, as Helm merges value files."""
    return _merged(copy.deepcopy(base), copy.deepcopy(update))


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def render_helm(root: Path, folder: Path, app: Manifest) -> list[Manifest]:
    """`helm template` as Argo CD runs it: the release is named after the Application, in its
    destination namespace (argo-cd v3.1.8 util/helm/cmd.go:397-400). Values that break the chart's
    values.schema.json fail here, as they fail Argo CD's render (helm v3.18.4
    pkg/chartutil/values.go:166-169)."""
    chart = helm_python.Chart.load(folder)
    try:
        namespace = str(app["spec"].get("destination", {}).get("namespace", ""))
        rendered = chart.render(helm_values(app, root), name=app["metadata"]["name"], namespace=namespace)
    except helm_python.HelmError as error:
        raise SourceError(
            f"Application/{app['metadata']['name']}: helm template {folder.name}: {error}"
        ) from error
    finally:
        chart.close()
    return helm_manifests(rendered)


def helm_manifests(rendered: dict[str, str]) -> list[Manifest]:
    """The objects of a chart's rendered templates; NOTES.txt is not a manifest (helm v3.18.4
    pkg/action/action.go:149-157)."""
    return [
        doc
        for path, text in rendered.items()
        if not path.endswith("/NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def render_kustomize(folder: Path, overrides: dict[str, Any]) -> list[Manifest]:
    """`kustomize build` of a folder; no Application here sets kustomize overrides, and the edits
    Argo CD would make for them are not modelled."""
    if overrides:
        raise SourceError(f"{folder}: kustomize overrides {sorted(overrides)} are not modelled")
    return render(folder)
