"""Fixtures: the real rendered environments, and what the run prints at its end."""

from __future__ import annotations

import copy

import pytest

from gitops import delivery
from gitops.paths import REPO_ROOT
from gitops.render import Manifest

_TABLES: list[tuple[str, str]] = []
_MUTATION_RESULTS: dict[str, bool] = {}


@pytest.fixture(scope="session")
def tables() -> list[tuple[str, str]]:
    """(title, table) of the drills that ran, printed after the test run."""
    return _TABLES


@pytest.fixture(scope="session")
def mutation_results() -> dict[str, bool]:
    """Mutation name -> killed by the validator, scored after the test run."""
    return _MUTATION_RESULTS


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    cluster = delivery.load(REPO_ROOT)
    return {app.environment: list(app.objects or ()) for app in cluster.applications if app.environment}


@pytest.fixture
def prod_copy(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    """A deep copy of prod's rendered manifests, for a test to break."""
    return copy.deepcopy(rendered["prod"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The drills' tables and the validator's mutation score, when those tests ran."""
    for title, table in _TABLES:
        terminalreporter.write_line(title)
        terminalreporter.write_line(table)

    if _MUTATION_RESULTS:
        killed = sum(_MUTATION_RESULTS.values())
        terminalreporter.write_line(
            f"gitops-validate mutation score: killed {killed} of {len(_MUTATION_RESULTS)} breakages"
        )
        for name, was_killed in _MUTATION_RESULTS.items():
            if not was_killed:
                terminalreporter.write_line(f"  survived: {name}")
