"""`gitops-cost`: monthly cost of serving 50, 500 and 5,000 requests/s at the latency SLO on
EKS, GKE and AKS, from the benchmarks' measured throughput per pod (docs/performance.json; for a
GPU pod docs/performance-gpu.json, once `make bench-gpu` has run on a GPU) and dated list prices
(docs/prices.yaml). Writes docs/cost.md; `--check` fails if it is stale.

Assumptions (also written into the report): a CPU pod is what `make bench` measured (2 vCPU,
the rollouts/ requests); its capacity at the SLO is the highest HTTP throughput whose p99 met
the latency threshold; pods run at 70% of that (headroom for bursts and a canary); three CPU
pods fit an 8-vCPU node (6 vCPU requested, the rest for the kubelet and daemons); at least
two pods and two nodes for availability; one GPU pod per GPU node.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops.paths import REPO_ROOT
from gitops.slo import load_slo

RATES = (50, 500, 5000)
HEADROOM = 0.7
CPU_PODS_PER_NODE = 3
MIN_REPLICAS = 2
# Used only while docs/performance-gpu.json holds no GPU run: the throughput issue's aim for one
# GPU pod over HTTP, not a measurement.
GPU_ASSUMED_IMAGES_PER_S = 2000.0
GPU_MEASUREMENT = Path("docs/performance-gpu.json")
OUTPUT = Path("docs/cost.md")


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    per_pod: float
    pods_per_node: int
    measured: bool
    gpu: bool = False


def cpu_capacity(performance: dict[str, Any], threshold_ms: float) -> float:
    """Highest measured images/s over HTTP whose p99 met the latency SLO."""
    rows = [r for r in performance["http"] if r["server"] == "classifier" and r["p99_ms"] <= threshold_ms]
    if not rows:
        raise ValueError("no benchmark row meets the latency SLO: run `make bench`")
    return float(max(r["ok_rps"] for r in rows))


@dataclass(frozen=True, slots=True)
class GpuCapacity:
    per_pod: float
    machine: str | None  # where `make bench-gpu` measured it; None: the assumption above


def gpu_capacity(measurement: dict[str, Any] | None, threshold_ms: float) -> GpuCapacity:
    """Highest images/s `make bench-gpu` measured on a GPU with every answer 200 and p99 within the
    SLO; the assumption where no GPU run was recorded (a `--device cpu` run says nothing of a GPU)."""
    if measurement is None or measurement["device"] != "cuda":
        return GpuCapacity(GPU_ASSUMED_IMAGES_PER_S, None)
    rows = [
        row
        for row in measurement["http"]["rows"]
        if row["p99_ms"] <= threshold_ms and set(row["statuses"]) == {"200"}
    ]
    if not rows:
        raise ValueError(f"no row of {GPU_MEASUREMENT} meets the latency SLO: see its report")
    return GpuCapacity(float(max(row["images_per_s"] for row in rows)), measurement["machine"])


def priced_gpu(gpu: GpuCapacity, prices: dict[str, Any]) -> tuple[float, bool, str]:
    """(images/s per GPU pod the tables use, whether measured, the assumption's line). A number
    measured on another GPU than the priced nodes carry is reported, not priced."""
    if gpu.machine is None:
        line = (
            f"- GPU pods are **not measured** (no GPU run in {GPU_MEASUREMENT}): {gpu.per_pod:.0f} "
            "images/s per GPU pod is the throughput issue's target, to be replaced by `make bench-gpu` "
            "on a GPU node."
        )
        return gpu.per_pod, False, line
    measured = (
        f"{gpu.per_pod:,.1f} images/s, measured by `make bench-gpu` on {gpu.machine} ({GPU_MEASUREMENT}): "
        "the highest HTTP throughput whose answers were all 200 and whose p99 met the SLO"
    )
    gpu_name = gpu.machine.split(",")[0]
    unpriced = [name for name, p in prices["providers"].items() if gpu_name not in p["gpu_node"]["type"]]
    if unpriced:
        line = (
            f"- GPU pods are **not measured on the priced GPU**: {measured}; the nodes priced for "
            f"{', '.join(unpriced)} carry another GPU, so the tables keep the throughput issue's target "
            f"of {GPU_ASSUMED_IMAGES_PER_S:.0f} images/s. Re-measure on the priced GPU, or price the "
            "measured one in docs/prices.yaml."
        )
        return GPU_ASSUMED_IMAGES_PER_S, False, line
    return gpu.per_pod, True, f"- One GPU pod serves {measured}."


def _plan(rate: float, variant: Variant) -> tuple[int, int]:
    pods = max(MIN_REPLICAS, math.ceil(rate / (variant.per_pod * HEADROOM)))
    nodes = max(MIN_REPLICAS, math.ceil(pods / variant.pods_per_node))
    return pods, nodes


def render(root: Path) -> str:
    slo = load_slo(root / "platform/slo/slos.yaml")
    performance = json.loads((root / "docs/performance.json").read_text())
    prices = yaml.safe_load((root / "docs/prices.yaml").read_text())
    threshold_ms = slo.latency_threshold_seconds * 1000
    gpu_file = root / GPU_MEASUREMENT
    gpu = gpu_capacity(json.loads(gpu_file.read_text()) if gpu_file.is_file() else None, threshold_ms)
    gpu_per_pod, gpu_measured, gpu_line = priced_gpu(gpu, prices)
    variants = [
        Variant(
            "CPU (ONNX Runtime, 2 vCPU pod)", cpu_capacity(performance, threshold_ms), CPU_PODS_PER_NODE, True
        ),
        Variant("GPU (torch CUDA, 1 GPU pod)", gpu_per_pod, 1, gpu_measured, gpu=True),
    ]
    hours = float(prices["hours_per_month"])
    lines = [
        "# Cost estimate",
        "",
        "Generated by `gitops-cost` (`make cost`) from `docs/performance.json` (measured "
        f"{performance['date']}, {performance['machine']}) and `docs/prices.yaml` (list prices recorded "
        f"{prices['recorded']}). Do not edit by hand.",
        "",
        "Assumptions:",
        f"- One CPU pod serves {variants[0].per_pod:.1f} images/s: the highest HTTP throughput in the "
        f"benchmark whose p99 met the {threshold_ms:.0f} ms latency SLO (one request = one image).",
        gpu_line,
        f"- Pods run at {HEADROOM:.0%} of that capacity (bursts, canary replicas); at least {MIN_REPLICAS} "
        f"pods and {MIN_REPLICAS} nodes; {CPU_PODS_PER_NODE} CPU pods per 8-vCPU node; "
        "one GPU pod per GPU node.",
        f"- On-demand prices, {hours:.0f} hours a month, one cluster's control-plane fee; no storage, "
        "network egress, load balancer or monitoring costs.",
        "",
    ]
    for variant in variants:
        lines += [
            f"## {variant.name}{'' if variant.measured else ' (assumed throughput)'}",
            "",
            "| requests/s | pods | nodes | EKS $/month | GKE $/month | AKS $/month |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        node_key = "gpu_node" if variant.gpu else "cpu_node"
        for rate in RATES:
            pods, nodes = _plan(rate, variant)
            costs = [
                (nodes * float(p[node_key]["per_hour"]) + float(p["control_plane_per_hour"])) * hours
                for p in prices["providers"].values()
            ]
            lines.append(f"| {rate:,} | {pods} | {nodes} | " + " | ".join(f"{c:,.0f}" for c in costs) + " |")
        types = ", ".join(f"{name}: {p[node_key]['type']}" for name, p in prices["providers"].items())
        lines += ["", f"Nodes: {types}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitops-cost", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/cost.md is out of date")
    parser.add_argument("--root", type=Path, default=REPO_ROOT)
    args = parser.parse_args(argv)
    text = render(args.root)
    target = args.root / OUTPUT
    if args.check:
        if not target.is_file() or target.read_text() != text:
            print(f"out of date: {OUTPUT} (run `make cost`)", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
