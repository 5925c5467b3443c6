"""Decoding untrusted bytes: accepted formats, and refusals that never decode a bomb."""

from __future__ import annotations

import io
import resource
import time

import numpy as np
import pytest
from PIL import Image

from classifier.decode import DRAFT_MARGIN, decode_image
from classifier.errors import InvalidImage, PayloadTooLarge
from classifier.modelbuild import photos

LIMIT = 40_000_000


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(image_format: str) -> None:
    image = decode_image(photos.encode("coffee", image_format), max_pixels=LIMIT)
    assert (image.mode, image.size) == ("RGB", (600, 400))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_other_colour_modes_are_converted(mode: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (50, 40)).save(buffer, "JPEG" if mode in {"L", "CMYK"} else "PNG")
    assert decode_image(buffer.getvalue(), max_pixels=LIMIT).mode == "RGB"


def test_gif_is_not_accepted() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    with pytest.raises(InvalidImage, match="not a JPEG, PNG or WebP"):
        decode_image(buffer.getvalue(), max_pixels=LIMIT)


def test_truncated_jpeg_is_invalid() -> None:
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decode_image(photos.encode("coffee")[:4000], max_pixels=LIMIT)


def test_pixel_limit_is_checked_from_the_header_without_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(buffer, "PNG", optimize=True)  # 900 Mpx claimed
    bomb = buffer.getvalue()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge, match="limit"):
        decode_image(bomb, max_pixels=LIMIT)
    assert time.perf_counter() - started < 0.5
    # Decoding it would need ~900 MB (2.7 GB as RGB); the refusal must not grow the heap.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 50_000  # KiB


def test_limit_is_inclusive() -> None:
    assert decode_image(photos.encode("coffee", "PNG"), max_pixels=600 * 400).size == (600, 400)
    with pytest.raises(PayloadTooLarge):
        decode_image(photos.encode("coffee", "PNG"), max_pixels=600 * 400 - 1)


def test_large_jpegs_decode_at_reduced_scale_with_the_same_top5(artifact_dir: object) -> None:
    """Camera-sized photos: decoding at 1/2-1/8 scale must not change any answer, near-ties included."""
    from pathlib import Path

    from classifier.backends import load_model
    from classifier.config import Settings
    from classifier.modelbuild.parity import top5
    from classifier.preprocess import preprocess

    artifact, backend = load_model(Settings(model_dir=Path(str(artifact_dir))))
    spec = artifact.metadata.preprocessing
    full, reduced, reduced_count = [], [], 0
    for name in ("coffee", "chelsea", "rocket", "astronaut", "camera"):
        image = photos.photo(name)
        for width in (1600, 2000, 2400, 2800, 3200, 3600, 4032, 4800):
            height = round(image.height * width / image.width)
            scaled = image.resize((width, height), Image.Resampling.LANCZOS)
            for quality in (80, 92):
                buffer = io.BytesIO()
                scaled.save(buffer, "JPEG", quality=quality)
                data = buffer.getvalue()
                fast = decode_image(data, max_pixels=LIMIT, target=spec.resize_shorter_side)
                margin = DRAFT_MARGIN * spec.resize_shorter_side
                # reduced exactly when even halving keeps the margin
                assert (fast.size != scaled.size) == (min(scaled.size) > 2 * margin)
                assert min(fast.size) >= min(margin, min(scaled.size))
                reduced_count += fast.size != scaled.size
                full.append(preprocess(decode_image(data, max_pixels=LIMIT), spec))
                reduced.append(preprocess(fast, spec))
    assert reduced_count >= 30
    assert top5(backend.predict(np.stack(full))) == top5(backend.predict(np.stack(reduced)))


def test_small_jpegs_and_other_formats_decode_at_full_scale() -> None:
    assert decode_image(photos.encode("coffee"), max_pixels=LIMIT, target=256).size == (600, 400)
    assert decode_image(photos.encode("coffee", "PNG"), max_pixels=LIMIT, target=64).size == (600, 400)
