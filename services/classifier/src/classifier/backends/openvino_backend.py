"""OpenVINO on the CPU: runs an artifact built as an OpenVINO IR (the int8 execution).

Chosen by the artifact, never instead of ONNX Runtime for the float32 one: an int8 artifact is
its own model version, checked against the float32 artifact it was derived from when it was
built (classifier_modelbuild.agreement) and rolled out through the canary like any new model.
"""

from __future__ import annotations

import queue
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

from classifier.artifact import ModelArtifact


class OpenVinoBackend:
    """A compiled model per concurrent caller, each with ``threads``, and one with
    ``alone_threads`` for a call that runs by itself (as in OnnxRuntimeBackend).

    Unlike an ONNX Runtime session, one compiled model does not run calls side by side: two
    threads calling it (one stream, 1 thread) got 148 images/s against 146 for one, and a compiled
    model per thread 315 (int8, batch 1, 2 cores; docs/performance-openvino-callers.md). So each
    call takes a compiled model of its own from a pool of ``callers`` (the inference workers) and
    gives it back; a call takes its own infer request (a request holds one call's tensors).
    """

    name = "openvino"
    device = "cpu"

    def __init__(
        self, artifact: ModelArtifact, *, threads: int, alone_threads: int | None = None, callers: int = 1
    ) -> None:
        core = ov.Core()
        model = core.read_model(str(artifact.openvino_path))
        self._idle: queue.SimpleQueue[ov.CompiledModel] = queue.SimpleQueue()
        for _ in range(callers):
            self._idle.put(compile_for_cpu(core, model, threads))
        alone_threads = alone_threads or threads
        self._alone = None if alone_threads == threads else compile_for_cpu(core, model, alone_threads)

    def predict(self, batch: npt.NDArray[np.float32], *, alone: bool = False) -> npt.NDArray[np.float32]:
        if alone and self._alone is not None:
            return infer(self._alone, batch)
        compiled = self._idle.get()  # blocks only if more callers than compiled models
        try:
            return infer(compiled, batch)
        finally:
            self._idle.put(compiled)


def infer(compiled: ov.CompiledModel, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    logits = compiled.create_infer_request().infer({0: batch})[0]
    return np.array(logits, dtype=np.float32)  # a copy: the request owns its output buffer


def compile_for_cpu(core: ov.Core, model: ov.Model, threads: int) -> ov.CompiledModel:
    config: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        # The layers left in float run in float32, as they were measured when the artifact was
        # built: on a CPU with bf16 instructions OpenVINO's default is bf16, which on its own
        # changes the top-1 answer on 7% of the build's variant views (docs/performance.md).
        "INFERENCE_PRECISION_HINT": "f32",
        # Pinning puts every process's threads on the same cores; calls here already run one
        # per core, side by side (measured: two pinned 1-thread processes gave 181 images/s
        # against 220 unpinned).
        "ENABLE_CPU_PINNING": False,
    }
    return core.compile_model(model, "CPU", config)
