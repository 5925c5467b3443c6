"""Where things are: the repository root and the CRD schema directory (a setting)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("GITOPS_REPO_ROOT", Path(__file__).resolve().parents[3]))
ENVIRONMENTS = ("dev", "staging", "prod")
