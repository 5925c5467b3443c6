"""Schema validation as strict as an API server: built-in kinds with kubernetes-validate
(strict: unknown fields rejected) at a pinned Kubernetes version; custom resources against
strict CRD JSON schemas from a schema directory; anything else is an error.

The CRD schema directory is a setting (``GITOPS_CRD_SCHEMA_DIR``, default
``../shared/schemas/crds`` beside the repository). Where it does not exist, schemas are
fetched once from the public CRDs catalog at a pinned commit into a cache directory. A kind
neither holds is read from ``tools/schemas/crds``: files of the same catalog at the same commit,
kept here for the groups the shared directory lacks (its README lists them).
"""

from __future__ import annotations

import json
import os
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from gitops.paths import REPO_ROOT
from gitops.render import Manifest, describe

KUBERNETES_VERSION = "1.33.0"
CATALOG_COMMIT = "7b1e26ef9deea49293714d204c1a2270aab1178f"
CATALOG_URL = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/{commit}/{group}/{kind}_{version}.json"
CRD_GROUPS = {
    "argoproj.io",
    "monitoring.coreos.com",
    "keda.sh",
    "external-secrets.io",
    "bitnami.com",
    "gateway.networking.k8s.io",
    "kyverno.io",
}
VENDORED = REPO_ROOT / "tools" / "schemas" / "crds"


def schema_dir() -> Path:
    configured = os.environ.get("GITOPS_CRD_SCHEMA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "schemas" / "crds"


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "gitops-crd-schemas" / CATALOG_COMMIT


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any] | None:
    """The strict schema for a custom resource, or None when none exists anywhere."""
    relative = Path(group) / f"{kind.lower()}_{version}.json"
    local = schema_dir() / relative
    if local.is_file():
        return dict(json.loads(local.read_text()))
    cached = cache_dir() / relative
    if not cached.is_file() and not schema_dir().is_dir():
        url = CATALOG_URL.format(commit=CATALOG_COMMIT, group=group, kind=kind.lower(), version=version)
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = response.read()
        except OSError:
            return None
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(body)
    if cached.is_file():
        return dict(json.loads(cached.read_text()))
    vendored = VENDORED / relative
    return dict(json.loads(vendored.read_text())) if vendored.is_file() else None


def validate_manifest(manifest: Manifest) -> list[str]:
    """Schema errors of one manifest (empty when valid)."""
    api_version = str(manifest.get("apiVersion", ""))
    kind = str(manifest.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    name = describe(manifest)
    if group in CRD_GROUPS:
        schema = crd_schema(group, kind, version)
        if schema is None:
            return [f"{name}: no schema for {api_version} {kind} (add it to the schema directory)"]
        validator = jsonschema.Draft7Validator(schema)
        errors = [
            f"{name}: {'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.path)))
        ]
        if kind == "Rollout" and not errors:
            errors += _pod_template_errors(manifest)
        return errors
    return _builtin_errors(manifest, name)


def _builtin_errors(manifest: Manifest, name: str) -> list[str]:
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        kind = f"{manifest.get('apiVersion')} {manifest.get('kind')}"
        return [f"{name}: no schema for {kind} in Kubernetes {KUBERNETES_VERSION}"]
    except kubernetes_validate.ValidationError as error:
        path = ".".join(map(str, error.path)) or "<root>"
        return [f"{name}: {path}: {error.message}"]
    return []


def _pod_template_errors(rollout: Manifest) -> list[str]:
    """A Rollout's pod template is open in its CRD: check it as a core PodTemplateSpec."""
    wrapper = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": rollout["metadata"]["name"]},
        "template": rollout.get("spec", {}).get("template", {}),
    }
    return [
        error.replace("PodTemplate/", "Rollout/", 1) for error in _builtin_errors(wrapper, describe(wrapper))
    ]
