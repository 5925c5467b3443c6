"""Render a source of this repository as Argo CD's repo server does: a Helm chart with the
Application's values, parameters and build environment, or a kustomization after the edits
Argo CD makes for the Application's kustomize overrides. Helm here is v4 (helm-python-sdk);
Argo CD v3.1 bundles Helm 3.18, which renders these charts the same.
"""

from __future__ import annotations

import copy
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import helm_python
import yaml

from gitops.render import Manifest, render


class SourceError(RuntimeError):
    """Argo CD could not render this source either; the message says why."""


def build_environment(app: Manifest) -> dict[str, str]:
    """The variables Argo CD's repo server sets when it renders a source (reposerver/repository/
    repository.go newEnv). The resolved commit is not known offline: the target revision stands in."""
    source = app["spec"]["source"]
    revision = str(source.get("targetRevision", ""))
    return {
        "ARGOCD_APP_NAME": app["metadata"]["name"],
        "ARGOCD_APP_NAMESPACE": str(app["spec"].get("destination", {}).get("namespace", "")),
        "ARGOCD_APP_REVISION": revision,
        "ARGOCD_APP_REVISION_SHORT": revision[:7],
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


def helm_values(app: Manifest) -> dict[str, Any]:
    """valuesObject (or values), then parameters as `--set`, which win (Argo CD helmTemplate)."""
    helm = app["spec"]["source"].get("helm") or {}
    values: dict[str, Any] = copy.deepcopy(
        helm.get("valuesObject") or yaml.safe_load(helm.get("values") or "{}") or {}
    )
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


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def render_helm(folder: Path, app: Manifest) -> list[Manifest]:
    """`helm template` as Argo CD runs it: the release is named after the Application, in its
    destination namespace."""
    chart = helm_python.Chart.load(folder)
    try:
        namespace = str(app["spec"].get("destination", {}).get("namespace", ""))
        rendered = chart.render(helm_values(app), name=app["metadata"]["name"], namespace=namespace)
    except helm_python.HelmError as error:
        raise SourceError(
            f"Application/{app['metadata']['name']}: helm template {folder.name}: {error}"
        ) from error
    finally:
        chart.close()
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def render_kustomize(root: Path, folder: Path, overrides: dict[str, Any]) -> list[Manifest]:
    """`kustomize build`, after the edits Argo CD makes for an Application's kustomize overrides
    (made on a copy of environments/ and rollouts/, all a kustomization here may read):
    images set, components and patches appended after the folder's own, so they apply last
    (reposerver/repository/repository.go, util/kustomize/kustomize.go Build)."""
    unsupported = set(overrides) - {"images", "components", "patches"}
    if unsupported:
        raise SourceError(f"{folder}: kustomize overrides {sorted(unsupported)} are not modelled")
    if not overrides:
        return render(folder)
    with tempfile.TemporaryDirectory() as scratch:
        copy_root = Path(scratch)
        for top in ("environments", "rollouts"):
            shutil.copytree(root / top, copy_root / top)
        target = copy_root / folder.relative_to(root)
        kustomization = yaml.safe_load((target / "kustomization.yaml").read_text())
        for image in overrides.get("images") or []:
            _set_image(kustomization, str(image))
        kustomization.setdefault("components", []).extend(overrides.get("components") or [])
        kustomization.setdefault("patches", []).extend(overrides.get("patches") or [])
        (target / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
        return render(target)


def _set_image(kustomization: dict[str, Any], override: str) -> None:
    """kustomize's `edit set image name=newName:tag`: a tag given replaces the digest (mergeImage)."""
    name, _, reference = override.partition("=")
    new_name, digest = reference.split("@", 1) if "@" in reference else (reference, "")
    new_name, _, tag = new_name.rpartition(":") if ":" in new_name.rsplit("/", 1)[-1] else (new_name, "", "")
    images = kustomization.setdefault("images", [])
    entry = next((i for i in images if i.get("name") == name), None)
    if entry is None:
        entry = {"name": name}
        images.append(entry)
    entry["newName"] = new_name
    for key in ("newTag", "digest"):
        entry.pop(key, None)
    entry.update({"newTag": tag} if tag else {"digest": digest} if digest else {})
