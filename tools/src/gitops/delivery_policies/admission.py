"""Admission: every environment runs only images whose CI signature the cluster verifies."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from gitops.delivery import Application, Delivery
from gitops.delivery_policies.base import group_kind, rule, synced_objects
from gitops.policies import Problem
from gitops.policies.base import Context, containers
from gitops.render import Manifest

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def ci_identity(repo_url: str) -> str:
    """The keyless signer of the images: this repository's ci.yml on main (the certificate subject
    GitHub's OIDC token gives a workflow run: `<repository URL>/<workflow path>@<ref>`)."""
    repository = repo_url.removesuffix("/").removesuffix(".git")
    return f"{repository}/.github/workflows/ci.yml@refs/heads/main"


@rule("image-verification")
def environments_admit_only_signed_images(delivery: Delivery) -> Iterator[Problem]:
    """A signature nobody checks before the pod runs proves nothing. Each environment's namespace
    needs a Kyverno policy that verifies, at admission, every image its pods run: signed keylessly
    by CI's identity and issuer, required, enforced, and failing closed (kyverno.io/v1 Policy and
    ClusterPolicy: spec.webhookConfiguration.failurePolicy, rules[].verifyImages[]
    imageReferences, failureAction, required, attestors[].entries[].keyless subject and issuer;
    the CRDs of Kyverno chart 3.8.1)."""
    identity = ci_identity(delivery.repo_url)
    cluster_policies = [
        m for _, m in synced_objects(delivery) if group_kind(m) == ("kyverno.io", "ClusterPolicy")
    ]
    for app in delivery.applications:
        if not app.environment:
            continue
        objects = list(app.objects or ())
        namespace = app.destination_namespace
        policies = [m for m in objects if group_kind(m) == ("kyverno.io", "Policy")] + cluster_policies
        entries = [entry for policy in policies for entry in _verify_entries(policy, namespace)]
        for image in sorted(_images(app, objects)):
            verified = [e for e in entries if any(fnmatchcase(image, ref) for ref in e["imageReferences"])]
            if not verified:
                message = f"no Kyverno policy verifies {image} at admission: its signature is never checked"
                yield Problem("image-verification", f"namespace/{namespace}", message, app.name)
            elif not any(_enforces(entry, identity) for entry in verified):
                message = (
                    f"the Kyverno policies verifying {image} do not enforce, require and fail closed on "
                    f"a keyless signature by {identity} (issuer {GITHUB_ISSUER})"
                )
                yield Problem("image-verification", f"namespace/{namespace}", message, app.name)


def _images(app: Application, objects: list[Manifest]) -> set[str]:
    context = Context(app.environment or "", objects)
    return {
        str(c.get("image")) for owner in context.pod_owners() for c in containers(owner) if c.get("image")
    }


def _verify_entries(policy: Manifest, namespace: str) -> Iterator[dict[str, Any]]:
    """Each verifyImages entry of a rule that matches Pods in the namespace, with what it inherits
    from its policy: the webhook's failurePolicy (spec.webhookConfiguration, else the deprecated
    spec.failurePolicy; "Defaults to Fail") and the deprecated spec.validationFailureAction
    (default Audit), as the kyverno.io/v1 CRD describes them. What could make Kyverno skip a pod
    the rule seems to cover (admission off, an exclude, preconditions, selectors, operations
    without CREATE, webhook match conditions naming another namespace) makes the rule not count:
    this model does not evaluate them."""
    spec = policy.get("spec") or {}
    if policy.get("kind") == "Policy" and (policy.get("metadata") or {}).get("namespace") not in (
        None,
        namespace,
    ):
        return
    conditions = (spec.get("webhookConfiguration") or {}).get("matchConditions") or []
    if spec.get("admission") is False or any(
        str(condition.get("expression")) != f"request.namespace == '{namespace}'" for condition in conditions
    ):
        return
    for policy_rule in spec.get("rules") or []:
        if any(policy_rule.get(key) for key in ("exclude", "preconditions", "celPreconditions")):
            continue
        if not _matches_pods(policy_rule.get("match") or {}, namespace):
            continue
        for entry in policy_rule.get("verifyImages") or []:
            yield {
                **entry,
                "imageReferences": entry.get("imageReferences") or [],
                "failureAction": entry.get("failureAction", spec.get("validationFailureAction", "Audit")),
                "failurePolicy": (spec.get("webhookConfiguration") or {}).get(
                    "failurePolicy", spec.get("failurePolicy", "Fail")
                ),
            }


def _matches_pods(match: dict[str, Any], namespace: str) -> bool:
    filters = [*(match.get("any") or []), *(match.get("all") or [])]
    if match.get("resources"):
        filters.append({"resources": match["resources"]})
    for each in filters:
        resources = each.get("resources") or {}
        namespaces = resources.get("namespaces")
        narrowed = any(
            resources.get(key) for key in ("selector", "namespaceSelector", "names", "annotations")
        )
        operations = resources.get("operations") or ["CREATE"]
        if (
            "Pod" in (resources.get("kinds") or [])
            and (not namespaces or namespace in namespaces)
            and "CREATE" in operations
            and not narrowed
            and not any(each.get(key) for key in ("subjects", "roles", "clusterRoles"))
        ):
            return True
    return False


def _enforces(entry: dict[str, Any], identity: str) -> bool:
    keyless = [
        item.get("keyless") or {}
        for attestor in entry.get("attestors") or []
        for item in attestor.get("entries") or []
    ]
    return (
        not entry.get("skipImageReferences")
        and str(entry["failureAction"]).lower() == "enforce"
        and entry.get("required", True) is not False
        and str(entry["failurePolicy"]) == "Fail"
        and bool(keyless)
        and all(item.get("subject") == identity and item.get("issuer") == GITHUB_ISSUER for item in keyless)
    )
