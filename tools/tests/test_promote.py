"""The promotion tool on a real temporary git repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.paths import REPO_ROOT

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
IMAGE = "ghcr.io/model-serving-gitops/classifier"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def promote(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitops.promote", "--root", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for folder in ("environments", "rollouts"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    git(tmp_path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "start")
    return tmp_path


def changed_lines(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "diff", "--unified=0").splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_set_image_then_promote_through_every_environment(repo: Path, tmp_path: Path) -> None:
    result = promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_A}")
    assert result.returncode == 0, result.stderr
    lines = changed_lines(repo)
    assert len(lines) == 2
    assert lines[0].startswith("-    digest: sha256:")
    assert lines[1] == f"+    digest: {DIGEST_A}"
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "dev")

    title_file, body_file = tmp_path / "title", tmp_path / "body"
    result = promote(
        repo,
        "--pr-title-file",
        str(title_file),
        "--pr-body-file",
        str(body_file),
        "promote",
        "dev",
        "staging",
    )
    assert result.returncode == 0, result.stderr
    assert git(repo, "diff", "--name-only").split() == ["environments/staging/kustomization.yaml"]
    assert len(changed_lines(repo)) == 2  # one line out, one line in
    assert title_file.read_text().strip() == "Promote classifier aaaaaaaaaaaa from dev to staging"
    assert f"`{IMAGE}@{DIGEST_A}`" in body_file.read_text()
    assert "+    digest: sha256:aaaa" in result.stdout
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "staging")

    assert promote(repo, "promote", "staging", "prod").returncode == 0
    assert len(changed_lines(repo)) == 2
    prod = (repo / "environments/prod/kustomization.yaml").read_text()
    assert f"digest: {DIGEST_A}" in prod
    assert prod.startswith("# prod: what differs from rollouts/")  # comments and order kept


def test_promoting_what_is_there_changes_nothing(repo: Path) -> None:
    first = promote(repo, "promote", "dev", "staging")
    assert first.returncode == 0
    assert "nothing to change" in first.stdout  # the copied repo has the same digest in both
    assert changed_lines(repo) == []


def test_skipping_an_environment_is_refused(repo: Path) -> None:
    result = promote(repo, "promote", "dev", "prod")
    assert result.returncode == 2
    assert "cannot promote dev -> prod" in result.stderr
    assert promote(repo, "promote", "prod", "staging").returncode == 2
    assert changed_lines(repo) == []


def test_tags_are_refused_for_staging_and_prod(repo: Path) -> None:
    for environment in ("staging", "prod"):
        result = promote(repo, "set-image", environment, f"{IMAGE}:1.2.3")
        assert result.returncode == 2
        assert "only images pinned by digest" in result.stderr
    assert promote(repo, "set-image", "dev", f"{IMAGE}:1.2.3").returncode == 0
    result = promote(repo, "promote", "dev", "staging")
    assert result.returncode == 2
    assert "has no digest" in result.stderr


def test_malformed_digest_is_refused(repo: Path) -> None:
    result = promote(repo, "set-image", "dev", f"{IMAGE}@sha256:1234")
    assert result.returncode == 2
    assert "64 hex digits" in result.stderr


def test_promoted_environment_still_validates(repo: Path) -> None:
    assert promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_B}").returncode == 0
    assert promote(repo, "promote", "dev", "staging").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "gitops.validate", "--root", str(repo), "--env", "staging", "--no-checkov"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
