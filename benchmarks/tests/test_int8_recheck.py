"""The recheck cascade: float32 answers where int8's top two are within the margin, int8 elsewhere."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import int8_recheck  # noqa: E402
from cpu_executions import FOUR_PHOTOS  # noqa: E402

# Three views, float32's answer class 0 on each. int8: confident and right; a near-tie (gap 0.1)
# answered wrong; a wider gap (0.5) answered wrong.
INT8 = np.array([[3.0, 1.0, 0.0], [1.0, 1.1, 0.0], [0.0, 2.0, 1.5]], dtype=np.float32)
REFERENCE = np.array([0, 0, 0])
RECHECK = np.array([0, 0, 0])


def test_a_view_is_rechecked_only_below_the_margin() -> None:
    rows = int8_recheck.sweep(REFERENCE, INT8, RECHECK, (0.0, 0.2, 1.0))
    assert [row.rechecked for row in rows] == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert [row.agreement for row in rows] == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_a_recheck_answers_as_the_recheck_does_not_as_the_reference() -> None:
    wrong_recheck = np.array([0, 2, 2])
    (row,) = int8_recheck.sweep(REFERENCE, INT8, wrong_recheck, (1.0,))
    assert row.agreement == pytest.approx(1 / 3)


def test_the_smallest_margin_lies_just_above_the_gap_it_must_cover() -> None:
    two_thirds = int8_recheck.smallest_margin(REFERENCE, INT8, RECHECK, 0.6)
    assert two_thirds.margin == pytest.approx(0.1, abs=1e-5)
    assert two_thirds.margin > 0.1
    everything = int8_recheck.smallest_margin(REFERENCE, INT8, RECHECK, 1.0)
    assert everything.margin == pytest.approx(0.5, abs=1e-5)
    assert everything.agreement == 1.0
    assert int8_recheck.smallest_margin(REFERENCE, INT8, RECHECK, 0.3).margin == 0.0


def test_the_cascade_runs_the_real_models_as_described() -> None:
    """Margin 0: int8's logits untouched. A margin above every gap: float32's logits, every row.

    In a process of its own: after OpenVINO has run here, rendering the chart with the Helm SDK's
    Go library in the same process (test_quality_calibration) ended in a segmentation fault.
    """
    from classifier_testkit.artifacts import int8_artifact

    int8_artifact()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        int8_logits, float32_logits, (never, always, some) = pool.submit(
            int8_recheck.four_photo_logits, (0.0, 1e9, 0.1)
        ).result()
    assert not np.allclose(int8_logits, float32_logits, atol=1e-3)  # they are different executions
    np.testing.assert_array_equal(never, int8_logits)
    np.testing.assert_array_equal(always, float32_logits)
    # chelsea's int8 top two are within 0.1 of each other, the others' are not: only it is rechecked.
    rechecked = int8_recheck.top_two_gap(int8_logits) < 0.1
    names = [name for name, near in zip(FOUR_PHOTOS, rechecked, strict=True) if near]
    assert names == ["chelsea"]
    np.testing.assert_array_equal(some[rechecked], float32_logits[rechecked])
    np.testing.assert_array_equal(some[~rechecked], int8_logits[~rechecked])
