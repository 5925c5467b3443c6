"""Fixtures: the real rendered environments."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.render import Manifest, render

# (title, table) of the drills that ran, printed after the test run.
TABLES: list[tuple[str, str]] = []


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    return {env: render(REPO_ROOT / "environments" / env) for env in ENVIRONMENTS}


Find = Callable[[list[Manifest], str, str], Manifest]


@pytest.fixture
def prod_copy(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    """A deep copy of prod's rendered manifests, for a test to break."""
    return copy.deepcopy(rendered["prod"])


DELIVERY_FOLDERS = (".github", "argocd", "cluster", "environments", "platform", "rollouts")


def copy_tree(target: Path) -> Path:
    """A copy of what Argo CD, cluster-up and GitHub read, for a test to break."""
    for folder in DELIVERY_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, target / folder, ignore=shutil.ignore_patterns("tests"))
    return target


def find(manifests: list[Manifest], kind: str, name: str = "classifier") -> Manifest:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The drills' tables and the validator's mutation score, when those tests ran."""
    from .test_mutations import RESULTS

    for title, table in TABLES:
        terminalreporter.write_line(title)
        terminalreporter.write_line(table)

    if RESULTS:
        killed = sum(RESULTS.values())
        terminalreporter.write_line(
            f"gitops-validate mutation score: killed {killed} of {len(RESULTS)} breakages"
        )
        for name, was_killed in RESULTS.items():
            if not was_killed:
                terminalreporter.write_line(f"  survived: {name}")
