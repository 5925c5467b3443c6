"""The model-quality calibration, in miniature: prod's rollout read as rendered, the vectorised
e-value equal to gitops.quality_stats', and a run whose healthy canary passes and whose shuffled
label file is caught."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import quality_calibration  # noqa: E402

from gitops.quality_stats import log_e_value  # noqa: E402


def test_prod_rollout_is_read_minute_by_minute() -> None:
    schedule = quality_calibration.prod_schedule()
    assert schedule.minutes >= 10
    assert np.all((schedule.weights > 0) & (schedule.weights < 1))
    assert np.all(np.diff(schedule.weights) >= 0), "prod's canary only ever grows"
    assert schedule.checks[0] >= 1
    assert schedule.checks[-1] == schedule.minutes
    assert np.all(np.diff(schedule.checks) == 1)


def test_vectorised_log_e_is_the_exact_one() -> None:
    rng = np.random.default_rng(16)
    canary = rng.poisson(3.0, size=(4, 65)).astype(np.float64)
    stable = rng.poisson(9.0, size=(4, 65)).astype(np.float64)
    canary[:, :10] = 0  # categories only stable answered, and some neither
    stable[:, 5:15] = 0
    vectorised = quality_calibration.log_e_values(canary, stable)
    for row in range(4):
        exact = log_e_value(
            {str(k): float(v) for k, v in enumerate(canary[row])},
            {str(k): float(v) for k, v in enumerate(stable[row])},
        )
        assert math.isclose(vectorised[row], exact, rel_tol=1e-9, abs_tol=1e-9)


def test_a_small_run_passes_the_healthy_canary_and_catches_shuffled_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "quality.json"
    argv = ["--replicates", "200", "--rate", "10", "--views", "36", "--canaries", "lite0", "shuffled-labels"]
    assert quality_calibration.main([*argv, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    rows = {row["canary"]: row["summary"] for row in report["results"]}
    assert rows["lite0"]["either"]["aborts"] == 0
    assert rows["shuffled-labels"]["class_group"]["rate"] == 1.0
    assert rows["shuffled-labels"]["confidence"]["aborts"] == 0, (
        "shuffling labels leaves the confidences alone"
    )
    assert report["distances"]["shuffled-labels"]["same_label"] == 0.0
    table = capsys.readouterr().out
    assert "| lite0 | 10 |" in table
    assert "| shuffled-labels | 10 |" in table
