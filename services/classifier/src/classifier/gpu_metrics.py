"""GPU utilisation and memory for /metrics, read through NVML (nvidia-ml-py) at scrape time.

Registered only when NVML loads and finds a device (the GPU image installs nvidia-ml-py);
on a CPU-only machine nothing is exported, so dashboards show the GPU rows only where a GPU is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("classifier")

METRIC_NAMES = (
    "classifier_gpu_utilization_ratio",
    "classifier_gpu_memory_used_bytes",
    "classifier_gpu_memory_total_bytes",
)


class GpuCollector(Collector):
    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        utilisation = GaugeMetricFamily(
            "classifier_gpu_utilization_ratio",
            "GPU busy fraction over the last sample period.",
            labels=["gpu"],
        )
        used = GaugeMetricFamily("classifier_gpu_memory_used_bytes", "GPU memory in use.", labels=["gpu"])
        total = GaugeMetricFamily("classifier_gpu_memory_total_bytes", "GPU memory in all.", labels=["gpu"])
        for index, handle in enumerate(self._handles):
            rates = self._nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            utilisation.add_metric([str(index)], rates.gpu / 100.0)
            used.add_metric([str(index)], float(memory.used))
            total.add_metric([str(index)], float(memory.total))
        yield from (utilisation, used, total)


def register_gpu_metrics(registry: CollectorRegistry) -> bool:
    """Export GPU metrics when NVML is available with at least one device; say whether it did."""
    try:
        import pynvml  # nvidia-ml-py: only in the GPU image

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            return False
    except Exception:  # no library, no driver, or no device: a CPU machine
        return False
    registry.register(GpuCollector(pynvml))
    logger.info("GPU metrics enabled", extra={"event": "gpu_metrics", "devices": pynvml.nvmlDeviceGetCount()})
    return True
