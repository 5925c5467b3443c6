"""Mutation testing of the validator: each realistic breakage of the delivery files
(`mutations.MUTATIONS`) must be reported, naming the object and the rule. The score is printed
at the end of the test run (conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.validate import validate as validate_tree

from .mutations import MUTATIONS, Mutation, copy_tree


def validate(root: Path) -> list[str]:
    """Every line `gitops-validate --no-checkov --root ROOT` prints."""
    return [f"{scope}: {problem}" for scope, problem in validate_tree(root, use_checkov=False)]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(tmp_path_factory.mktemp("pristine"))


def test_the_unbroken_tree_is_clean(pristine: Path) -> None:
    assert validate(pristine) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_validator_kills_the_mutation(
    mutation: Mutation, tmp_path: Path, mutation_results: dict[str, bool]
) -> None:
    root = copy_tree(tmp_path)
    mutation.edit(root)
    lines = validate(root)
    mutation_results[mutation.name] = bool(lines)
    assert any(mutation.expected in line for line in lines), (
        f"{mutation.name}: expected {mutation.expected!r} in {lines}"
    )


def test_mutation_names_are_unique() -> None:
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)
