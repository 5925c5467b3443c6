"""`gitops-validate`: render every environment and check it as strictly as an API server.

For each folder in environments/: render with `kubectl kustomize`, validate every object
against its schema (strict; unknown kinds fail), apply the project's policies, then run
checkov on the rendered output. Exit 1 with one line per problem; 0 when all is clean.

    gitops-validate                      # every environment
    gitops-validate --env prod           # one
    gitops-validate --no-checkov         # schemas and policies only (fast)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from gitops import checkov_scan
from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.policies import Context, Problem, check
from gitops.render import Manifest, RenderError, render
from gitops.schemas import validate_manifest

# Besides the environments, what Argo CD or `make cluster-up` applies: schemas only.
PLATFORM_FOLDERS = ("platform", "argocd/apps", "argocd/bootstrap.yaml", "cluster/secret-store-access.yaml")


def problems_in(environment: str, manifests: list[Manifest], *, use_checkov: bool) -> list[str]:
    found = [problem for manifest in manifests for problem in validate_manifest(manifest)]
    found += [str(problem) for problem in check(Context(environment, manifests))]
    if use_checkov:
        found += [str(finding) for finding in _checkov(manifests)]
    return found


def _checkov(manifests: list[Manifest]) -> list[Problem]:
    with tempfile.TemporaryDirectory() as scratch:
        rendered = Path(scratch) / "rendered.yaml"
        rendered.write_text(yaml.safe_dump_all([_as_checkov_sees(m) for m in manifests], sort_keys=False))
        return checkov_scan.scan(rendered)


def _as_checkov_sees(manifest: Manifest) -> dict[str, Any]:
    """checkov does not know Rollouts: scan a Rollout's pod template as a Deployment's."""
    if manifest.get("kind") != "Rollout":
        return manifest
    spec = manifest["spec"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": manifest["metadata"],
        "spec": {
            "replicas": spec.get("replicas", 1),
            "selector": spec["selector"],
            "template": spec["template"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitops-validate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--env", action="append", choices=ENVIRONMENTS, help="only this environment (repeatable)"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT)
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov scan")
    args = parser.parse_args(argv)
    failed = False
    if not args.env:  # the folders Argo CD syncs besides the environments: schemas only
        for folder in PLATFORM_FOLDERS:
            try:
                path = args.root / folder
                manifests = (
                    render(path) if path.is_dir() else [m for m in yaml.safe_load_all(path.read_text()) if m]
                )
            except RenderError as error:
                print(f"{folder}: {error}")
                failed = True
                continue
            found = [problem for manifest in manifests for problem in validate_manifest(manifest)]
            for problem in found:
                print(f"{folder}: {problem}")
            print(f"{folder}: {len(manifests)} objects, {len(found)} problems", file=sys.stderr)
            failed |= bool(found)
    for environment in args.env or ENVIRONMENTS:
        try:
            manifests = render(args.root / "environments" / environment)
        except RenderError as error:
            print(f"{environment}: {error}")
            failed = True
            continue
        found = problems_in(environment, manifests, use_checkov=not args.no_checkov)
        for problem in found:
            print(f"{environment}: {problem}")
        print(f"{environment}: {len(manifests)} objects, {len(found)} problems", file=sys.stderr)
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
