"""The golden set and the photo mix it is cut from: deterministic, distinct, labelled only where
the subject is clear."""

from __future__ import annotations

import json
from pathlib import Path

from classifier_modelbuild.golden import write_golden_set
from classifier_modelbuild.photo_mix import CLEAR_LABELS, CLEAR_VIEW_AREA, MIN_AREA, SIZES, SOURCES, photo_mix


def test_the_same_set_on_every_build(tmp_path: Path) -> None:
    first = json.loads(write_golden_set(tmp_path / "a", count=36).read_text())
    second = json.loads(write_golden_set(tmp_path / "b", count=36).read_text())
    assert first == second
    assert len({image["sha256"] for image in first["images"]}) == 36
    assert all((tmp_path / "a" / image["file"]).is_file() for image in first["images"])


def test_views_are_distinct_varied_and_labelled_only_when_clear() -> None:
    views = photo_mix(len(SOURCES) * 6, seed=1)
    assert len({view.image.tobytes() for view in views}) == len(views)
    assert {view.source for view in views} == set(SOURCES)
    assert all(MIN_AREA * 0.95 <= view.area <= 1.0 for view in views)
    assert all(SIZES[0] <= min(view.image.size) <= SIZES[1] + 1 for view in views)
    for view in views:
        clear = view.source in CLEAR_LABELS and view.area >= CLEAR_VIEW_AREA
        assert view.expected == (CLEAR_LABELS[view.source] if clear else ())
    assert any(view.expected for view in views)
    assert photo_mix(4, seed=2)[0].image.tobytes() != views[0].image.tobytes()
