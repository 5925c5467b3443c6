"""The CRD catalog is read at one pinned commit everywhere: the validator's download fallback
(gitops.schemas) and CI's copy of it (.github/workflows/ci.yml)."""

from __future__ import annotations

import re

from gitops.paths import REPO_ROOT
from gitops.schemas import CATALOG_COMMIT, CATALOG_URL


def test_ci_fetches_the_catalog_at_the_validators_commit() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert re.findall(r"CATALOG_COMMIT: ([0-9a-f]{40})", workflow) == [CATALOG_COMMIT]
    assert 'CRDs-catalog.git "$CATALOG_COMMIT"' in workflow, "CI fetches the catalog by that commit"
    assert "{commit}" in CATALOG_URL
