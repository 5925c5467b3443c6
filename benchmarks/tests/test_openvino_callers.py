"""The callers benchmark measures the real model objects, and its report says how it was made."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import openvino_callers  # noqa: E402


def test_each_model_object_is_measured_with_one_caller_and_one_per_core() -> None:
    """In a process of its own, as test_int8_recheck runs OpenVINO (a later Helm SDK render in the
    same process once ended in a segmentation fault)."""
    from classifier_testkit.artifacts import int8_artifact

    int8_artifact()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = pool.submit(openvino_callers.measure, 0.3, 2).result()
    names = [name.split(",")[0] for name, _, _ in rows]
    assert names == ["ONNX Runtime float32", "OpenVINO int8", "OpenVINO int8"]
    assert all(one > 0 and many > 0 for _, one, many in rows)
    text = openvino_callers.report(rows, 2, "the command")
    assert "```\nthe command\n```" in text
    assert sum(line.startswith("|") for line in text.splitlines()) == 2 + len(rows)  # header, rule, rows
