"""The policy registry, the problem type, and the object helpers the policies share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from gitops.render import Manifest

WORKLOAD_KINDS = {"Rollout", "Deployment", "StatefulSet", "DaemonSet"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, printed as `Kind/name: what is wrong (rule)` after its scope: the
    environment, or for rules across Applications the Application it belongs to."""

    policy: str
    subject: str
    message: str
    scope: str = ""

    def __str__(self) -> str:
        return f"{self.subject}: {self.message} ({self.policy})"


@dataclass(frozen=True, slots=True)
class Context:
    """One environment's rendered objects."""

    environment: str
    manifests: list[Manifest]

    def of_kind(self, *kinds: str) -> Iterator[Manifest]:
        return (m for m in self.manifests if m.get("kind") in kinds)

    def named(self, kind: str) -> dict[str, Manifest]:
        return {m["metadata"]["name"]: m for m in self.of_kind(kind)}

    def workloads(self) -> Iterator[Manifest]:
        """What runs pods for good: Rollouts and the like."""
        return self.of_kind(*WORKLOAD_KINDS)

    def analysis_jobs(self) -> Iterator[Manifest]:
        """The Jobs the analysis creates: each job metric of an AnalysisTemplate, as a Job with the
        metric's Job spec as it stands (argo-rollouts v1.8.3 metricproviders/job/job.go:121).
        The controller names it `<run UID>.<metric>.<n>` (job.go:77, newJobName); no run exists
        offline, so `<template>.<metric>` names it in the validator's messages."""
        for template in self.of_kind("AnalysisTemplate", "ClusterAnalysisTemplate"):
            for metric in template.get("spec", {}).get("metrics", []):
                job = metric.get("provider", {}).get("job")
                if job is not None:
                    metadata = {"name": f"{template['metadata']['name']}.{metric.get('name')}"}
                    if "namespace" in template.get("metadata", {}):
                        metadata["namespace"] = template["metadata"]["namespace"]
                    yield {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "metadata": metadata,
                        "spec": job.get("spec", {}),
                    }

    def pod_owners(self) -> Iterator[Manifest]:
        """Everything that runs pods, the analysis's Jobs included: what pod hygiene, selectors
        and references apply to."""
        yield from self.workloads()
        yield from self.analysis_jobs()


Rule = TypeVar("Rule", bound=Callable[..., Iterator[Problem]])


def registrar(table: dict[str, Rule]) -> Callable[[str], Callable[[Rule], Rule]]:
    """A decorator factory that files each rule in `table` under its name."""

    def named(name: str) -> Callable[[Rule], Rule]:
        def register(function: Rule) -> Rule:
            table[name] = function
            return function

        return register

    return named


Policy = Callable[[Context], Iterator[Problem]]
POLICIES: dict[str, Policy] = {}
policy = registrar(POLICIES)


def check(context: Context) -> list[Problem]:
    return [problem for rule in POLICIES.values() for problem in rule(context)]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    """The pod a workload runs: a Pod's own spec, a CronJob's job template's, else spec.template's."""
    spec = workload.get("spec") or {}
    if workload.get("kind") == "Pod":
        return dict(spec)
    if workload.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict((spec.get("template") or {}).get("spec") or {})


def pod_labels(workload: Manifest) -> dict[str, str]:
    return dict(workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))


def containers(workload: Manifest) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def pod_secrets(workload: Manifest) -> Iterator[tuple[str, str]]:
    """(what reads it, Secret name) for each Secret a workload's pods cannot start without: secret
    volumes, secretKeyRefs and envFrom secretRefs not marked optional (Kubernetes docs,
    concepts/configuration/secret, "Optional Secrets")."""
    for volume in pod_spec(workload).get("volumes") or []:
        secret = volume.get("secret") or {}
        if secret.get("secretName") and not secret.get("optional"):
            yield f"volume {volume.get('name')}", str(secret["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            projected = source.get("secret") or {}
            if projected.get("name") and not projected.get("optional"):
                yield f"volume {volume.get('name')}", str(projected["name"])
    for container in containers(workload):
        name = container.get("name")
        for variable in container.get("env") or []:
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef") or {}
            if reference.get("name") and not reference.get("optional"):
                yield f"container {name} env {variable.get('name')}", str(reference["name"])
        for source in container.get("envFrom") or []:
            reference = source.get("secretRef") or {}
            if reference.get("name") and not reference.get("optional"):
                yield f"container {name} envFrom", str(reference["name"])


def provided_secret(manifest: Manifest) -> str | None:
    """The Secret an object creates: a Secret, or an ExternalSecret's target (target.name "Defaults
    to the .metadata.name of the ExternalSecret resource": the external-secrets v1 CRD)."""
    if manifest.get("kind") == "Secret":
        return str(manifest["metadata"]["name"])
    if manifest.get("kind") == "ExternalSecret":
        target = (manifest.get("spec") or {}).get("target") or {}
        return str(target.get("name") or manifest["metadata"]["name"])
    return None


def provided_secrets(manifests: Iterable[Manifest]) -> set[str]:
    """Secrets these objects create."""
    return {name for manifest in manifests if (name := provided_secret(manifest)) is not None}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A Service-style selector: non-empty and every pair present (an empty one selects nothing)."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions): the empty selector selects all."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def namespace_of(manifest: Manifest, default: str = "") -> str:
    return str(manifest.get("metadata", {}).get("namespace") or default)
