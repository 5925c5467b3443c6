"""Rules across everything Argo CD deploys into one cluster (`gitops.delivery.Delivery`): what
one Application does to another, to the cluster, or to a controller. Each is a class of mistake
that passes every per-object check yet keeps a real cluster from converging, and names the
upstream code or document that makes it one."""

from gitops.delivery_policies import (
    admission,
    ordering,
    ownership,
    pod_security,
    references,
    scope,
    secrets,
    uniqueness,
)
from gitops.delivery_policies.base import RULES, check

__all__ = [
    "RULES",
    "admission",
    "check",
    "ordering",
    "ownership",
    "pod_security",
    "references",
    "scope",
    "secrets",
    "uniqueness",
]
