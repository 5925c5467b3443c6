"""The CRD catalog is read at one pinned commit everywhere: the validator's download fallback
(gitops.schemas) and CI's copy of it (.github/workflows/ci.yml)."""

from __future__ import annotations

import hashlib
import re

from gitops.paths import REPO_ROOT
from gitops.schemas import CATALOG_COMMIT, CATALOG_URL, VENDORED, validate_manifest


def test_ci_fetches_the_catalog_at_the_validators_commit() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert re.findall(r"CATALOG_COMMIT: ([0-9a-f]{40})", workflow) == [CATALOG_COMMIT]
    assert 'CRDs-catalog.git "$CATALOG_COMMIT"' in workflow, "CI fetches the catalog by that commit"
    assert "{commit}" in CATALOG_URL


def test_the_schemas_kept_here_are_the_catalogs_files_unchanged() -> None:
    """Each file under tools/schemas/crds is the catalog's blob at CATALOG_COMMIT, as its README
    records it (`git hash-object`: sha1 over "blob <size>\\0" and the bytes)."""
    readme = (VENDORED / "README.md").read_text()
    recorded = dict(re.findall(r"^\| `([^`]+\.json)` \| [^|]+ \| `([0-9a-f]{40})` \|$", readme, re.MULTILINE))
    files = {str(path.relative_to(VENDORED)) for path in VENDORED.rglob("*.json")}
    assert set(recorded) == files
    for name, blob in recorded.items():
        body = (VENDORED / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() == blob, name


def test_a_kind_only_kept_here_is_validated_strictly() -> None:
    policy = {
        "apiVersion": "kyverno.io/v1",
        "kind": "Policy",
        "metadata": {"name": "p", "namespace": "ml"},
        "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}}], "typo": 1},
    }
    assert any("typo" in error for error in validate_manifest(policy))
