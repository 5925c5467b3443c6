"""The cost estimate is generated from the benchmark's numbers and is up to date."""

from __future__ import annotations

import math

from gitops.cost import HEADROOM, Variant, _plan, cpu_capacity, main


def test_report_is_current() -> None:
    assert main(["--check"]) == 0, "run `make cost` and commit docs/cost.md"


def test_capacity_is_the_best_throughput_that_met_the_slo() -> None:
    performance = {
        "http": [
            {"server": "classifier", "ok_rps": 80.0, "p99_ms": 140.0},
            {"server": "classifier", "ok_rps": 90.0, "p99_ms": 410.0},  # too slow for the SLO
            {"server": "naive FastAPI + eager torch", "ok_rps": 100.0, "p99_ms": 10.0},
        ]
    }
    assert cpu_capacity(performance, 300.0) == 80.0


def test_plan_keeps_headroom_and_a_minimum() -> None:
    variant = Variant("cpu", 100.0, 3, True)
    assert _plan(10, variant) == (2, 2)
    pods, nodes = _plan(5000, variant)
    assert pods == math.ceil(5000 / (100 * HEADROOM))
    assert nodes == math.ceil(pods / 3)
