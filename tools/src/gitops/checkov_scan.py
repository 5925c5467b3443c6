"""Run checkov on rendered manifests (it scans YAML files, not kustomize folders).

checkov runs from its own virtual environment (``.venv-checkov``; it pins shared libraries
to versions the rest of the repository does not use) with ``--skip-download`` so it never
calls a vendor API. The skip list below is short and every entry says why.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from gitops.paths import REPO_ROOT
from gitops.policies import Problem

# Checks skipped, each with its reason. Empty: every check passes on every environment once
# Rollouts are scanned as Deployments (see validate._as_checkov_sees). Add an entry only with
# a reason a reviewer would accept.
SKIPPED_CHECKS: dict[str, str] = {}


class CheckovMissing(RuntimeError):
    pass


def checkov_binary() -> Path:
    configured = os.environ.get("GITOPS_CHECKOV")
    path = Path(configured) if configured else REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
    if not path.exists():
        raise CheckovMissing(f"checkov not found at {path}: run `make checkov` (its own venv)")
    return path


def scan(rendered: Path) -> list[Problem]:
    """Failed checks in one rendered multi-document YAML file, as problems like our policies'."""
    result = subprocess.run(
        [
            str(checkov_binary()),
            "--file", str(rendered),
            "--framework", "kubernetes",
            "--skip-download",
            *(["--skip-check", ",".join(SKIPPED_CHECKS)] if SKIPPED_CHECKS else []),
            "--output", "json",
            "--quiet",
            "--compact",
        ],
        capture_output=True, text=True, check=False,
        env=os.environ | {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )  # fmt: skip
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return [
        Problem(f"checkov {check['check_id']}", check["resource"], check["check_name"])
        for item in reports
        for check in item.get("results", {}).get("failed_checks", [])
    ]
