"""Fixtures: the real rendered environments."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.render import Manifest, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    return {env: render(REPO_ROOT / "environments" / env) for env in ENVIRONMENTS}


Find = Callable[[list[Manifest], str, str], Manifest]


@pytest.fixture
def prod_copy(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    """A deep copy of prod's rendered manifests, for a test to break."""
    return copy.deepcopy(rendered["prod"])


def find(manifests: list[Manifest], kind: str, name: str = "classifier") -> Manifest:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)
