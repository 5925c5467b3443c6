"""Batching and threading defaults derived from the hardware, each overridable by a setting.

On this kind of CPU, ONNX Runtime gains nothing from batches (a batch of 4 ran ~10% fewer
images/s than batch 1) and a single-threaded run per core beats one run spread over all
cores (docs/performance.md), so the CPU defaults are "one single-threaded pipeline per core,
batch 1, no wait, decode inline": each worker decodes an image and then runs it, exactly like
the best in-process loop, and the batcher orders the queue and drops expired requests.
OpenVINO's int8 execution is the exception: single-threaded, a batch of 8 runs ~1.25x the
images/s of batch 1 (model alone), and over HTTP at c=32 the service with batch 8 served
1.3-1.5x what it served with batch 1, with c=1 unchanged (a lone request is still a batch of
one; docs/performance.md), so its CPU default is batch 8, still with no wait.
A GPU gains a great deal from large batches, so its defaults are large batches and a few
milliseconds of wait to fill them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from classifier.buckets import power_of_two_buckets
from classifier.config import Backend, Settings

# The CPU batch each backend runs best at (measured, see the module docstring).
CPU_BATCH: dict[Backend, int] = {"onnxruntime": 1, "openvino": 8, "torch": 1}


def available_cpus() -> int:
    """CPUs this process may use: affinity, then any cgroup quota (a pod's CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def _cgroup_cpu_quota() -> float | None:
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        v1_quota = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        if v1_quota.is_file():
            quota_us = int(v1_quota.read_text())
            period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class Tuning:
    """The resolved numbers the pipeline runs with (logged at start-up)."""

    accelerator: bool
    cpus: int
    max_batch_size: int
    max_batch_wait_s: float
    # The batch sizes the model is called with (buckets.py); empty: any size, as formed.
    batch_buckets: tuple[int, ...]
    queue_capacity: int
    inference_workers: int
    inference_threads: int
    alone_threads: int
    decode_inline: bool
    # JPEGs decoded with their batch on the model's device (device_decode.py); the rest inline.
    decode_on_device: bool
    decode_workers: int

    @classmethod
    def resolve(
        cls, settings: Settings, *, backend: Backend, accelerator: bool, cpus: int | None = None
    ) -> Tuning:
        """``backend``: the one that will run the model (never ``auto``; see backends.chosen_backend)."""
        cpus = cpus or available_cpus()
        if accelerator:
            batch, wait_ms, workers, threads = 64, 4.0, 2, 1
        else:
            batch, wait_ms, workers, threads = CPU_BATCH[backend], 0.0, cpus, 1
        max_batch_size = settings.max_batch_size or batch
        inference_workers = settings.inference_workers or workers
        inference_threads = settings.inference_threads or (
            threads if inference_workers > 1 or accelerator else cpus
        )
        # Enough admitted work to keep every worker busy for several batches, and no more: beyond
        # that a request waits in line holding no body (admission.py), then is answered 429.
        capacity = settings.queue_capacity or max(64, 8 * inference_workers * max_batch_size)
        wait = settings.max_batch_wait_ms if settings.max_batch_wait_ms >= 0 else wait_ms
        return cls(
            accelerator=accelerator,
            cpus=cpus,
            max_batch_size=max_batch_size,
            max_batch_wait_s=wait / 1000.0,
            # A GPU plans each new input shape on its first call (seconds); a CPU does not.
            batch_buckets=power_of_two_buckets(max_batch_size) if accelerator else (),
            queue_capacity=capacity,
            inference_workers=inference_workers,
            inference_threads=inference_threads,
            # A model call with no other running may use every core (unless threads were set).
            alone_threads=settings.inference_threads or max(inference_threads, cpus),
            decode_inline=settings.decode_stage in ("inline", "device")
            or (settings.decode_stage == "auto" and not accelerator),
            decode_on_device=settings.decode_stage == "device",
            decode_workers=settings.decode_workers or cpus,
        )
