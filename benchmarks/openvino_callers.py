"""Does one model object run calls side by side? The service's inference workers are threads that
call the backend at once (classifier.workers), one per core.

    .venv/bin/python benchmarks/openvino_callers.py --output docs/performance-openvino-callers.md

Model alone, the four photos' tensors in turn, batch 1, one thread per call: images/s of one
caller, then of one caller per core, for an ONNX Runtime session (float32 artifact), one OpenVINO
compiled model (int8 artifact; compiled as the backend compiles it), and OpenVinoBackend as the
service builds it (a compiled model per caller). One run, one machine: compare within it.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shlex
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cpu_executions import FLOAT32_DIR, FOUR_PHOTOS, INT8_DIR, cpu_model

from classifier.artifact import load_artifact
from classifier.backends.onnxruntime_backend import OnnxRuntimeBackend
from classifier.backends.openvino_backend import OpenVinoBackend, compile_for_cpu, infer
from classifier.prepare import ImagePreparation
from classifier_testkit import photos

Predict = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]


def four_photo_tensors() -> list[npt.NDArray[np.float32]]:
    prepare = ImagePreparation(load_artifact(FLOAT32_DIR).metadata.preprocessing, max_pixels=10**8)
    return [prepare(photos.encode(name)).tensor[None] for name in FOUR_PHOTOS]


def images_per_second(predict: Predict, callers: int, seconds: float) -> float:
    """`callers` threads calling `predict` in a loop over the four photos, all at once."""
    tensors = four_photo_tensors()
    for tensor in tensors:
        predict(tensor)  # warm
    counts = [0] * callers
    start = threading.Barrier(callers + 1)

    def loop(caller: int) -> None:
        start.wait()
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            predict(tensors[counts[caller] % len(tensors)])
            counts[caller] += 1

    threads = [threading.Thread(target=loop, args=(caller,)) for caller in range(callers)]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def model_objects(cores: int) -> dict[str, Predict]:
    """Each model object under test, as a predict function any thread may call."""
    import openvino as ov

    ort = OnnxRuntimeBackend(load_artifact(FLOAT32_DIR), threads=1)
    core = ov.Core()
    compiled = compile_for_cpu(core, core.read_model(str(INT8_DIR / "model.xml")), threads=1)
    pooled = OpenVinoBackend(load_artifact(INT8_DIR), threads=1, callers=cores)
    return {
        "ONNX Runtime float32, one session": ort.predict,
        "OpenVINO int8, one compiled model": functools.partial(infer, compiled),
        f"OpenVINO int8, OpenVinoBackend (a compiled model per caller, {cores})": pooled.predict,
    }


def measure(seconds: float, cores: int) -> list[tuple[str, float, float]]:
    """(model object, one caller, one caller per core), images/s."""
    return [
        (name, images_per_second(predict, 1, seconds), images_per_second(predict, cores, seconds))
        for name, predict in model_objects(cores).items()
    ]


def report(rows: list[tuple[str, float, float]], cores: int, command: str) -> str:
    lines = [
        "# One model object, several callers",
        "",
        "The service's inference workers are threads, one per core, that call the backend at once.",
        "An ONNX Runtime session runs their calls side by side; one OpenVINO compiled model does not",
        "(one stream), so OpenVinoBackend gives each caller a compiled model of its own. Model alone,",
        "the four photos' tensors in turn, batch 1, one thread per call.",
        "",
        f"Machine: {platform.machine()} ({cpu_model()}), {cores} cores; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "Produced by:",
        "",
        "```",
        command,
        "```",
        "",
        f"| model object | 1 caller, images/s | {cores} callers, images/s | x 1 caller |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {one:.1f} | {many:.1f} | {many / one:.2f} |" for name, one, many in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--output", type=Path, help="write the report here (default: print it)")
    args = parser.parse_args()
    if not (INT8_DIR / "metadata.json").is_file():
        sys.exit(f"{INT8_DIR} is missing: run `make model-int8` first")
    cores = os.cpu_count() or 1
    command = shlex.join([".venv/bin/python", "benchmarks/openvino_callers.py", *sys.argv[1:]])
    text = report(measure(args.seconds, cores), cores, command)
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
