"""Voluntary disruptions (node drains, upgrades) and failures leave enough pods serving."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from gitops.policies.base import Context, Problem, label_selector_matches, pod_labels, pod_spec, policy
from gitops.render import Manifest, describe

# Environments that must keep serving through the loss of a pod or of a zone.
HIGHLY_AVAILABLE = {"prod"}
ZONE = "topology.kubernetes.io/zone"


def minimum_replicas(context: Context, workload: Manifest) -> int:
    """The fewest pods the workload may run: its autoscaler's floor, else spec.replicas (default 1).
    KEDA's minReplicaCount defaults to 0 and an HPA's minReplicas to 1."""
    name, kind = workload["metadata"]["name"], workload["kind"]
    for scaler in context.of_kind("ScaledObject", "HorizontalPodAutoscaler"):
        spec = scaler.get("spec", {})
        target = spec.get("scaleTargetRef", {})
        if target.get("name") == name and target.get("kind", "Deployment") == kind:
            if scaler["kind"] == "ScaledObject":
                return int(spec.get("minReplicaCount", 0))
            return int(spec.get("minReplicas", 1))
    return int(workload.get("spec", {}).get("replicas", 1))


def allowed_disruptions(pdb: Manifest, replicas: int) -> int:
    """Pods a PDB lets go at `replicas` healthy pods; percentages round up (Kubernetes docs,
    tasks/run-application/configure-pdb: "rounded up")."""
    spec = pdb.get("spec", {})
    if "maxUnavailable" in spec:
        return _absolute(spec["maxUnavailable"], replicas)
    if "minAvailable" in spec:
        return replicas - _absolute(spec["minAvailable"], replicas)
    return replicas


def _absolute(value: Any, replicas: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


@policy("availability")
def survives_disruption(context: Context) -> Iterator[Problem]:
    pdbs = list(context.of_kind("PodDisruptionBudget"))
    for workload in context.workloads():
        replicas = minimum_replicas(context, workload)
        labels = pod_labels(workload)
        covering = [p for p in pdbs if label_selector_matches(p.get("spec", {}).get("selector"), labels)]
        for pdb in covering:
            if allowed_disruptions(pdb, replicas) <= 0:
                yield Problem(
                    "availability",
                    describe(pdb),
                    f"allows no voluntary eviction at {replicas} replica(s) of {describe(workload)}: "
                    "node drains and cluster upgrades hang",
                )
        if context.environment not in HIGHLY_AVAILABLE:
            continue
        if replicas < 2:
            yield Problem(
                "availability",
                describe(workload),
                f"{context.environment} may run {replicas} replica(s): losing one pod is an outage",
            )
        if not covering:
            yield Problem(
                "availability",
                describe(workload),
                "no PodDisruptionBudget covers it: a drain may evict every pod at once",
            )
        if not any(
            _strict_zone_spread(c, labels) for c in pod_spec(workload).get("topologySpreadConstraints", [])
        ):
            yield Problem(
                "availability",
                describe(workload),
                "not spread over zones with whenUnsatisfiable: DoNotSchedule: every pod may land "
                "in one zone and go with it",
            )


def _strict_zone_spread(constraint: dict[str, Any], labels: dict[str, str]) -> bool:
    return (
        constraint.get("topologyKey") == ZONE
        and constraint.get("whenUnsatisfiable") == "DoNotSchedule"
        and int(constraint.get("maxSkew", 1)) == 1
        and constraint.get("labelSelector") is not None  # the scheduler counts no pod for a nil selector
        and label_selector_matches(constraint.get("labelSelector"), labels)
    )
