"""Where things are: the repository root, the environments, and their names in the cluster."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("GITOPS_REPO_ROOT", Path(__file__).resolve().parents[3]))
ENVIRONMENTS = ("dev", "staging", "prod")
# The Rollout (and its container) every environment runs.
ROLLOUT = "classifier"
# The label Argo Rollouts gives a revision's pods, AnalysisRuns and Service selectors
# (argo-rollouts v1.8.3 pkg/apis/rollouts/v1alpha1/types.go DefaultRolloutUniqueLabelKey).
HASH_LABEL = "rollouts-pod-template-hash"


def namespace(environment: str) -> str:
    """An environment's namespace, which is also the name of its Argo CD Application."""
    return f"classifier-{environment}"
