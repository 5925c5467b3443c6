"""`gitops-validate`: check everything Argo CD would deploy, as strictly as the cluster would.

Follows argocd/bootstrap.yaml through every Application and ApplicationSet (`delivery`), renders
each source as Argo CD would, validates every object against its schema (strict; unknown kinds
fail), applies the per-environment policies and checkov to each environment and to the chart
installed on its own (`standalone`, which must need no CRD), the rules across Applications to the
whole, and the workflow rules to .github/workflows. Exit 1 with one line per
problem, `scope: Kind/name: what is wrong (rule)`; 0 when all is clean.

    gitops-validate                      # everything
    gitops-validate --env prod           # one environment: schemas, policies, checkov
    gitops-validate --no-checkov         # without checkov (fast)
    gitops-validate --bootstrap FILE     # as bootstrapped by FILE (e.g. cluster/bootstrap-application.sh)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from gitops import checkov_scan, delivery, delivery_policies, standalone, workflow_policies
from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.policies import Context, Problem, check
from gitops.render import Manifest
from gitops.schemas import validate_manifest


def problems_in(environment: str, manifests: list[Manifest], *, use_checkov: bool) -> list[str]:
    """One environment's problems: schemas, the project's policies, checkov."""
    found = [f"{problem} (schema)" for manifest in manifests for problem in validate_manifest(manifest)]
    found += [str(problem) for problem in check(Context(environment, manifests))]
    if use_checkov:
        found += [str(finding) for finding in _checkov(manifests)]
    return found


def problems_standalone(root: Path, *, use_checkov: bool) -> list[tuple[str, str]]:
    """The chart installed on its own, each variant: an environment's checks, and no kind whose CRD
    the variant's cluster lacks."""
    found = [("chart", problem) for problem in standalone.lint(root)]
    for variant, values in standalone.VARIANTS.items():
        try:
            manifests = standalone.render(root, values)
        except standalone.StandaloneError as error:
            found.append((variant, str(error)))
            continue
        problems = problems_in(variant, manifests, use_checkov=use_checkov)
        found += [(variant, problem) for problem in problems + standalone.needing_a_crd(manifests, values)]
        print(f"{variant}: {len(manifests)} objects", file=sys.stderr)
    return found


def problems_across(cluster: delivery.Delivery) -> list[tuple[str, str]]:
    """(scope, problem) for what is not an environment's own: schemas of every other object and of
    the generated Applications, and every rule across Applications."""
    found: list[tuple[str, str]] = []
    environments = {app.name for app in cluster.applications if app.environment}
    for owner, manifest in cluster.owned_objects():
        if owner not in environments:
            found += [(owner, f"{problem} (schema)") for problem in validate_manifest(manifest)]
    for app in cluster.applications:
        if app.name in cluster.generated_by:
            scope = f"ApplicationSet/{cluster.generated_by[app.name]}"
            found += [(scope, f"{problem} (schema)") for problem in validate_manifest(app.manifest)]
    found += [(problem.scope, str(problem)) for problem in delivery_policies.check(cluster)]
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


def validate(
    root: Path,
    bootstrap: Manifest | None = None,
    *,
    environments: Iterable[str] = (),
    use_checkov: bool = True,
) -> list[tuple[str, str]]:
    """(scope, problem) for everything: each environment's own problems, then, unless only some
    environments were asked for, everything across Applications and the workflows."""
    try:
        cluster = delivery.load(root, bootstrap)
    except delivery.DeliveryError as error:
        return [("bootstrap", str(error))]
    wanted = set(environments)
    found: list[tuple[str, str]] = []
    for app in cluster.applications:
        if app.environment and (not wanted or app.environment in wanted):
            problems = problems_in(app.environment, list(app.objects or ()), use_checkov=use_checkov)
            found += [(app.environment, problem) for problem in problems]
            print(f"{app.environment}: {len(app.objects or ())} objects", file=sys.stderr)
    if not wanted:
        found += problems_standalone(root, use_checkov=use_checkov)
        found += problems_across(cluster)
        found += [(problem.scope, str(problem)) for problem in workflow_policies.check(root)]
        total = sum(len(app.objects or ()) for app in cluster.applications)
        print(f"cluster: {len(cluster.applications)} Applications, {total} objects", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitops-validate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--env", action="append", choices=ENVIRONMENTS, help="only this environment (repeatable)"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT)
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov scan")
    parser.add_argument("--bootstrap", type=Path, help="the bootstrap Application to follow instead of git's")
    args = parser.parse_args(argv)
    bootstrap = yaml.safe_load(args.bootstrap.read_text()) if args.bootstrap else None
    found = validate(args.root, bootstrap, environments=args.env or (), use_checkov=not args.no_checkov)
    for scope, problem in found:
        print(f"{scope}: {problem}")
    counts = Counter(scope for scope, _ in found)
    print(f"{len(found)} problems" + (f" ({dict(counts)})" if counts else ""), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
