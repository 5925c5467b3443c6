"""Where one image's time goes, per photo of the mix, next to the all-Pillow path it replaced.

Decode and resize give the same pixels either way (tests/test_decode.py, test_resample.py);
only the time differs. Medians of repeated single-threaded runs, so the stages add up to
roughly one worker's time per image.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from classifier.artifact import Preprocessing
from classifier.backends import InferenceBackend, load_model
from classifier.config import Settings
from classifier.decode import DRAFT_MARGIN, decode_image
from classifier.prepare import ImagePreparation
from classifier.preprocess import crop_box, preprocess
from classifier.resample import resize_box

REPEATS = 25


def _median_ms(work: Callable[[], object]) -> float:
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def _pillow_decode(data: bytes, target: int) -> Image.Image:
    """The service's decode before simplejpeg: Pillow, with draft mode for large JPEGs."""
    image = Image.open(io.BytesIO(data))
    scale = DRAFT_MARGIN * target / min(image.size)
    if scale < 0.5:
        image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    return image.convert("RGB")


def measure_stages(model_dir: Path, files: list[Path]) -> list[dict[str, Any]]:
    artifact, engine = load_model(Settings(model_dir=model_dir), threads=1)
    return [_stages(path, engine, artifact.metadata.preprocessing) for path in files]


def _stages(path: Path, engine: InferenceBackend, spec: Preprocessing) -> dict[str, Any]:
    data = path.read_bytes()
    crop, target = spec.crop_size, spec.resize_shorter_side
    pixels = decode_image(data, max_pixels=10**8, target=target)
    decoded = Image.fromarray(pixels)
    box = crop_box(decoded.width, decoded.height, spec)
    tensor = ImagePreparation(spec, max_pixels=10**8)(data).tensor[None]
    return {
        "photo": path.name,
        "decoded": f"{decoded.width}x{decoded.height}",
        "decode_pillow_ms": _median_ms(lambda: _pillow_decode(data, target)),
        "decode_ms": _median_ms(lambda: decode_image(data, max_pixels=10**8, target=target)),
        "resize_pillow_ms": _median_ms(lambda: decoded.resize((crop, crop), Image.Resampling.BICUBIC, box)),
        "resize_ms": _median_ms(lambda: resize_box(pixels, box, (crop, crop), spec.interpolation)),
        "preprocess_ms": _median_ms(lambda: preprocess(pixels, spec)),
        "model_ms": _median_ms(lambda: engine.predict(tensor)),
    }


def stages_table(rows: list[dict[str, Any]]) -> list[str]:
    return [
        "| photo | decoded at | decode ms: Pillow / service | resize ms: Pillow / service "
        "| preprocess ms (resize + normalise) | model ms (1 thread) |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {r['photo']} | {r['decoded']} | {r['decode_pillow_ms']:.1f} / {r['decode_ms']:.1f} "
            f"| {r['resize_pillow_ms']:.1f} / {r['resize_ms']:.1f} | {r['preprocess_ms']:.1f} "
            f"| {r['model_ms']:.1f} |"
            for r in rows
        ),
    ]
