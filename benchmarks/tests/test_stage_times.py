"""The per-photo stage table: real photos, the real model, both paths timed."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

from bench_service import DEFAULT_MODEL_DIR, photo_mix  # noqa: E402
from stage_times import measure_stages, stages_table  # noqa: E402


def test_every_photo_gets_every_stage_and_a_table_row(tmp_path: Path) -> None:
    files = photo_mix(tmp_path)[-2:]  # the two camera-sized photos
    rows = measure_stages(DEFAULT_MODEL_DIR, files)
    assert [row["photo"] for row in rows] == [path.name for path in files]
    assert rows[-1]["decoded"] == "2016x1341"  # the 12 MP photo decodes at 1/2 DCT scale
    for row in rows:
        timings = [value for key, value in row.items() if key.endswith("_ms")]
        assert len(timings) == 6
        assert all(value > 0 for value in timings)
    table = stages_table(rows)
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == 7 for line in table)
