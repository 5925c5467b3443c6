"""The cost estimate is generated from the benchmark's numbers and is up to date."""

from __future__ import annotations

import math

import pytest

from gitops.cost import (
    GPU_ASSUMED_IMAGES_PER_S,
    HEADROOM,
    GpuCapacity,
    Variant,
    _plan,
    cpu_capacity,
    gpu_capacity,
    main,
    priced_gpu,
)
from gitops.paths import REPO_ROOT


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


def _gpu_run(*rows: tuple[float, float, dict[str, int]]) -> dict[str, object]:
    """Shaped as benchmarks/bench_gpu.py writes docs/performance-gpu.json (its test checks the real file)."""
    return {
        "device": "cuda",
        "machine": "NVIDIA H200, x86_64, 16 CPUs, Python 3.12.3",
        "http": {"rows": [{"images_per_s": r, "p99_ms": p99, "statuses": s} for r, p99, s in rows]},
    }


def test_gpu_capacity_is_the_best_clean_run_within_the_slo() -> None:
    run = _gpu_run((1600.0, 40.0, {"200": 9}), (4200.0, 120.0, {"200": 9}), (4400.0, 320.0, {"200": 9}))
    assert gpu_capacity(run, 300.0) == GpuCapacity(4200.0, "NVIDIA H200, x86_64, 16 CPUs, Python 3.12.3")
    shed = _gpu_run((1600.0, 40.0, {"200": 9}), (4300.0, 100.0, {"200": 9, "429": 1}))
    assert gpu_capacity(shed, 300.0).per_pod == 1600.0  # a run that refused requests is no capacity
    with pytest.raises(ValueError, match="latency SLO"):
        gpu_capacity(_gpu_run((4400.0, 320.0, {"200": 9})), 300.0)
    assert gpu_capacity(None, 300.0) == GpuCapacity(GPU_ASSUMED_IMAGES_PER_S, None)


def test_a_gpu_measured_on_another_gpu_than_the_priced_nodes_is_reported_not_priced() -> None:
    import yaml

    prices = yaml.safe_load((REPO_ROOT / "docs/prices.yaml").read_text())
    per_pod, measured, line = priced_gpu(gpu_capacity(_gpu_run((4200.0, 120.0, {"200": 9})), 300.0), prices)
    assert (per_pod, measured) == (GPU_ASSUMED_IMAGES_PER_S, False)
    assert "4,200.0 images/s, measured by `make bench-gpu` on NVIDIA H200" in line
    assert "the nodes priced for EKS, GKE, AKS carry another GPU" in line
    on_l4 = _gpu_run((900.0, 120.0, {"200": 9})) | {"machine": "NVIDIA L4, x86_64, 4 CPUs, Python 3.12.3"}
    per_pod, measured, line = priced_gpu(gpu_capacity(on_l4, 300.0), prices)
    assert measured is False  # AKS prices a T4 node
    both_l4 = prices | {"providers": {k: v for k, v in prices["providers"].items() if k != "AKS"}}
    assert priced_gpu(gpu_capacity(on_l4, 300.0), both_l4)[:2] == (900.0, True)
    assert "not measured" in priced_gpu(gpu_capacity(None, 300.0), prices)[2]
