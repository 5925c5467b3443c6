"""ONNX Runtime on the CPU: the default backend (about 3x faster than eager torch here)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from classifier.artifact import ModelArtifact


class OnnxRuntimeBackend:
    name = "onnxruntime"
    device = "cpu"

    def __init__(self, artifact: ModelArtifact, *, threads: int) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            str(artifact.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = artifact.metadata.input_name
        self._output_name = artifact.metadata.output_name

    def predict(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        (logits,) = self._session.run([self._output_name], {self._input_name: batch})
        return np.asarray(logits, dtype=np.float32)
