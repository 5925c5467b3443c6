"""Which CPU execution of the model is fastest here, and how faithful is each? One run, one machine.

`make bench` includes it in docs/performance.md; alone it prints its table:

    .venv/bin/python benchmarks/cpu_executions.py

Candidates, all of the float32 artifact's network: ONNX Runtime float32 (the float32 artifact),
ONNX Runtime int8 (static QDQ quantization, per-channel weights, calibrated on the same views as
the int8 artifact), OpenVINO float32 (the ONNX graph converted, float32 inference), and OpenVINO
int8 (the artifact `make model-int8` builds). For each: images/s per core of the model alone and
of the whole in-process pipeline (decode, preprocess, model; the benchmark's four photos), as two
single-threaded processes side by side (one per core), and top-1 agreement with float32 on the
model build's variant views (classifier_modelbuild.agreement).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.artifact import load_artifact
from classifier.prepare import ImagePreparation
from classifier_modelbuild.agreement import VIEWS, VIEWS_SEED, preprocessed_views
from classifier_testkit import photos

REPO = Path(__file__).resolve().parents[1]
FLOAT32_DIR = REPO / "artifacts" / "efficientnet-lite0" / "1"
INT8_DIR = REPO / "artifacts" / "efficientnet-lite0" / "1+int8"
CANDIDATES = ("onnxruntime float32", "onnxruntime int8 (QDQ)", "openvino float32", "openvino int8 (artifact)")
FOUR_PHOTOS = ("coffee", "chelsea", "rocket", "astronaut")  # as docs/performance-peers.md sends them
Predict = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]


def make_predict(candidate: str, files: dict[str, Path], threads: int) -> Predict:
    """A batch -> logits function for one candidate, with `threads` per call."""
    if candidate.startswith("onnxruntime"):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(files[candidate]), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda batch: np.asarray(session.run(None, {name: batch})[0])
    import openvino as ov

    from classifier.backends.openvino_backend import compile_for_cpu, infer

    core = ov.Core()
    return functools.partial(infer, compile_for_cpu(core, core.read_model(str(files[candidate])), threads))


def prepare_files(scratch: Path) -> dict[str, Path]:
    """The four candidates' model files: two built here from the float32 artifact."""
    import openvino as ov
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from classifier_modelbuild.quantize import calibration_batch

    source = load_artifact(FLOAT32_DIR)
    calibration = calibration_batch(source.metadata.preprocessing)

    class Views(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._rows = iter(calibration)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            row = next(self._rows, None)
            return None if row is None else {source.metadata.input_name: row[None]}

    prepared, qdq, ov_fp32 = scratch / "pre.onnx", scratch / "qdq.onnx", scratch / "fp32.xml"
    quant_pre_process(str(source.onnx_path), str(prepared))
    quantize_static(
        str(prepared),
        str(qdq),
        Views(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    ov.save_model(ov.convert_model(source.onnx_path), ov_fp32, compress_to_fp16=False)
    return dict(zip(CANDIDATES, (source.onnx_path, qdq, ov_fp32, INT8_DIR / "model.xml"), strict=True))


def _loop(make: Callable[[], Predict], whole: bool, seconds: float, ready: Any, queue: Any) -> None:
    predict = make()
    prepare = ImagePreparation(load_artifact(FLOAT32_DIR).metadata.preprocessing, max_pixels=10**8)
    bodies = [photos.encode(name) for name in FOUR_PHOTOS]
    tensors = [prepare(body).tensor[None] for body in bodies]

    def one(index: int) -> None:
        predict(prepare(bodies[index % 4]).tensor[None] if whole else tensors[index % 4])

    for index in range(8):
        one(index)
    ready.wait()
    count, stop_at = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        one(count)
        count += 1
    queue.put(count)


def per_core(make: Callable[[], Predict], whole: bool, seconds: float, cores: int) -> float:
    """Images/s per core: `cores` single-threaded processes side by side, each running the
    predict function `make` returns (a picklable factory: the processes are spawned), total / cores."""
    context = multiprocessing.get_context("spawn")
    queue, ready = context.Queue(), context.Barrier(cores)
    arguments = (make, whole, seconds, ready, queue)
    processes = [context.Process(target=_loop, args=arguments) for _ in range(cores)]
    for process in processes:
        process.start()
    total = sum(queue.get() for _ in processes)
    for process in processes:
        process.join()
    return float(total) / seconds / cores


def top1_agreement(candidate: str, files: dict[str, Path], reference: npt.NDArray[np.int64]) -> float:
    predict = make_predict(candidate, files, threads=os.cpu_count() or 1)
    views = preprocessed_views(VIEWS, VIEWS_SEED, load_artifact(FLOAT32_DIR).metadata.preprocessing)
    answers = np.array([int(predict(view[None]).argmax()) for view in views])
    return float((answers == reference).mean())


def measure_executions(seconds: float) -> list[dict[str, Any]]:
    """Every candidate's images/s per core (model alone, whole pipeline) and top-1 agreement."""
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        files = prepare_files(Path(scratch))
        views = preprocessed_views(VIEWS, VIEWS_SEED, load_artifact(FLOAT32_DIR).metadata.preprocessing)
        reference_predict = make_predict(CANDIDATES[0], files, threads=cores)
        reference = np.array([int(reference_predict(view[None]).argmax()) for view in views])
        for candidate in CANDIDATES:
            print(f"  {candidate} ...", file=sys.stderr)
            one_thread = functools.partial(make_predict, candidate, files, 1)
            rows.append(
                {
                    "execution": candidate,
                    "model_per_core": per_core(one_thread, False, seconds, cores),
                    "pipeline_per_core": per_core(one_thread, True, seconds, cores),
                    "top1_agreement": top1_agreement(candidate, files, reference),
                }
            )
    return rows


def executions_table(rows: list[dict[str, Any]]) -> list[str]:
    base = rows[0]
    lines = [
        "| execution | model images/s per core | x float32 | pipeline images/s per core | x float32 "
        "| top-1 agreement with float32 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        model, pipeline = row["model_per_core"], row["pipeline_per_core"]
        lines.append(
            f"| {row['execution']} | {model:.1f} | {model / base['model_per_core']:.2f} | {pipeline:.1f} | "
            f"{pipeline / base['pipeline_per_core']:.2f} | {row['top1_agreement']:.1%} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not (INT8_DIR / "metadata.json").is_file():
        sys.exit(f"{INT8_DIR} is missing: run `make model-int8` first")
    print(f"{platform.machine()} ({cpu_model()}), {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d}")
    print("\n".join(executions_table(measure_executions(args.seconds))))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
