"""The CPU executions table: every ratio is against float32, the first row."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import cpu_executions  # noqa: E402


def test_ratios_are_against_the_first_row() -> None:
    keys = ("execution", "model_per_core", "pipeline_per_core", "top1_agreement")
    rows = [
        dict(zip(keys, ("onnxruntime float32", 80.0, 60.0, 1.0), strict=True)),
        dict(zip(keys, ("openvino int8", 200.0, 120.0, 0.939), strict=True)),
    ]
    table = cpu_executions.executions_table(rows)
    assert table[2] == "| onnxruntime float32 | 80.0 | 1.00 | 60.0 | 1.00 | 100.0% |"
    assert table[3] == "| openvino int8 | 200.0 | 2.50 | 120.0 | 2.00 | 93.9% |"
