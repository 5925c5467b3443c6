"""Batching and threading defaults follow the hardware; settings override them."""

from __future__ import annotations

from classifier.config import Settings
from classifier.tuning import Tuning, available_cpus


def test_cpu_defaults_are_one_single_threaded_pipeline_per_core() -> None:
    tuning = Tuning.resolve(Settings(), backend="onnxruntime", accelerator=False, cpus=4)
    assert (tuning.inference_workers, tuning.inference_threads) == (4, 1)
    assert tuning.max_batch_size == 1
    assert tuning.max_batch_wait_s == 0.0
    assert tuning.decode_workers == 4
    assert tuning.queue_capacity >= 4 * 4


def test_openvino_batches_on_the_cpu_without_waiting() -> None:
    tuning = Tuning.resolve(Settings(), backend="openvino", accelerator=False, cpus=2)
    assert (tuning.max_batch_size, tuning.max_batch_wait_s) == (8, 0.0)
    assert tuning.queue_capacity >= 2 * 8
    overridden = Tuning.resolve(Settings(max_batch_size=1), backend="openvino", accelerator=False)
    assert overridden.max_batch_size == 1


def test_gpu_defaults_batch_large() -> None:
    tuning = Tuning.resolve(Settings(), backend="torch", accelerator=True, cpus=16)
    assert tuning.max_batch_size == 64
    assert tuning.max_batch_wait_s == 0.004
    assert tuning.queue_capacity >= 2 * 64


def test_settings_override_every_default() -> None:
    settings = Settings(
        max_batch_size=2,
        max_batch_wait_ms=0,
        queue_capacity=10,
        inference_workers=1,
        inference_threads=3,
        decode_workers=5,
    )
    tuning = Tuning.resolve(settings, backend="onnxruntime", accelerator=False, cpus=8)
    assert (tuning.max_batch_size, tuning.max_batch_wait_s, tuning.queue_capacity) == (2, 0.0, 10)
    assert (tuning.inference_workers, tuning.inference_threads, tuning.decode_workers) == (1, 3, 5)


def test_one_worker_gets_every_core() -> None:
    tuning = Tuning.resolve(Settings(inference_workers=1), backend="onnxruntime", accelerator=False, cpus=8)
    assert tuning.inference_threads == 8


def test_available_cpus_is_within_the_machine() -> None:
    import os

    assert 1 <= available_cpus() <= (os.cpu_count() or 1)
