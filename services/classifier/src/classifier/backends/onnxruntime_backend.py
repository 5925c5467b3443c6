"""ONNX Runtime on the CPU: the default backend (about 3x faster than eager torch here)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from classifier.artifact import ModelArtifact


class OnnxRuntimeBackend:
    """Sessions may be called from several threads at once (ONNX Runtime allows it).

    Two sessions over the same graph: one with ``threads`` per call for when several calls
    run side by side, and one with ``alone_threads`` for a call that runs by itself. On this
    2-core machine a lone image takes ~8.6 ms with 2 threads against ~13 ms with 1, while two
    1-thread calls side by side give the most images/s (docs/performance.md).
    """

    name = "onnxruntime"
    device = "cpu"

    def __init__(self, artifact: ModelArtifact, *, threads: int, alone_threads: int | None = None) -> None:
        self._input_name = artifact.metadata.input_name
        self._output_name = artifact.metadata.output_name
        self._shared = _session(artifact, threads)
        alone_threads = alone_threads or threads
        self._alone = self._shared if alone_threads == threads else _session(artifact, alone_threads)

    def predict(self, batch: npt.NDArray[np.float32], *, alone: bool = False) -> npt.NDArray[np.float32]:
        session = self._alone if alone else self._shared
        (logits,) = session.run([self._output_name], {self._input_name: batch})
        return np.asarray(logits, dtype=np.float32)


def _session(artifact: ModelArtifact, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning intra-op threads burn the cores that decoding needs: measured 70 vs 113
    # images/s for a 2-thread session on 2 cores (docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(artifact.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
