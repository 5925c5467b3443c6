"""The README's settings table is generated from `Settings` and must be up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.settings_doc import rewrite

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_is_current() -> None:
    current = README.read_text()
    assert rewrite(current) == current, "run `make docs` and commit services/classifier/README.md"


def test_rewrite_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="settings-table"):
        rewrite("no markers here")
