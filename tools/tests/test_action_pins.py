"""The pin check against upstream, on real git repositories made here: a pin is right only when
its tag exists upstream and names the pinned commit (annotated tags peeled)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops.action_pins import pins, problems


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> dict[str, str]:
    """owner/tool with two releases: v1.0.0 lightweight, v1.1.0 annotated; their commits."""
    repo = tmp_path / "mirrors" / "owner+tool"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    commits = {}
    for tag, annotated in (("v1.0.0", False), ("v1.1.0", True)):
        (repo / "action.yml").write_text(f"name: tool {tag}\n")
        git(repo, "add", ".")
        author = ("-c", "user.name=t", "-c", "user.email=t@t")
        git(repo, *author, "commit", "-qm", tag)
        git(repo, *author, "tag", *(["-am", tag] if annotated else []), tag)
        commits[tag] = git(repo, "rev-parse", "HEAD")
    return commits


def check(tmp_path: Path, uses: str) -> list[str]:
    workflows = tmp_path / "root" / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    (workflows / "ci.yml").write_text(
        f"jobs:\n  a:\n    steps:\n      - uses: ./.github/actions/local\n      - uses: {uses}\n"
    )
    return problems(tmp_path / "root", str(tmp_path / "mirrors" / "{owner}+{name}"))


def test_pins_that_match_their_tags_pass(tmp_path: Path, upstream: dict[str, str]) -> None:
    assert check(tmp_path, f"owner/tool@{upstream['v1.0.0']} # v1.0.0") == []
    assert check(tmp_path, f"owner/tool/sub@{upstream['v1.1.0']} # v1.1.0") == []  # peeled, by repository


def test_a_commit_its_tag_does_not_name_is_reported(tmp_path: Path, upstream: dict[str, str]) -> None:
    # The mistake that broke CI: a SHA that looks right but is not the tag's (here, no commit at all).
    made_up = upstream["v1.1.0"][:-4] + "c1ad"
    [line] = check(tmp_path, f"owner/tool@{made_up} # v1.1.0")
    assert f"upstream v1.1.0 is {upstream['v1.1.0']}, not the pinned commit" in line
    [line] = check(tmp_path, f"owner/tool@{upstream['v1.0.0']} # v1.1.0")  # another release's commit
    assert "not the pinned commit" in line


def test_a_tag_missing_upstream_is_reported(tmp_path: Path, upstream: dict[str, str]) -> None:
    [line] = check(tmp_path, f"owner/tool@{upstream['v1.0.0']} # v9.9.9")
    assert line.endswith("no tag v9.9.9 upstream")


def test_every_pin_of_this_repository_is_found() -> None:
    root = Path(__file__).resolve().parents[2]
    found = pins(root)
    text = "".join(p.read_text() for p in (root / ".github" / "workflows").glob("*.yml"))
    assert len(found) == text.count("uses: ") - text.count("uses: ./") > 10
