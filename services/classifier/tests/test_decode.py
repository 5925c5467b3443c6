"""Decoding untrusted bytes: accepted formats, and refusals that never decode a bomb."""

from __future__ import annotations

import io
import math
import resource
import time

import numpy as np
import pytest
from PIL import Image

from classifier.decode import DRAFT_MARGIN, decode_image
from classifier.errors import InvalidImage, PayloadTooLarge
from classifier_testkit import photos

LIMIT = 40_000_000


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(image_format: str) -> None:
    pixels = decode_image(photos.encode("coffee", image_format), max_pixels=LIMIT)
    assert (pixels.dtype, pixels.shape) == (np.uint8, (400, 600, 3))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_other_colour_modes_are_converted(mode: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (50, 40)).save(buffer, "JPEG" if mode in {"L", "CMYK"} else "PNG")
    assert decode_image(buffer.getvalue(), max_pixels=LIMIT).shape == (40, 50, 3)


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
    for image_format in ("PNG", "JPEG"):
        assert decode_image(photos.encode("coffee", image_format), max_pixels=600 * 400).shape == (
            400,
            600,
            3,
        )
        with pytest.raises(PayloadTooLarge):
            decode_image(photos.encode("coffee", image_format), max_pixels=600 * 400 - 1)


def test_large_jpegs_decode_at_reduced_scale_with_the_same_top5(artifact_dir: object) -> None:
    """Camera-sized photos: decoding at 1/2-1/8 scale must not change any answer, near-ties included."""
    from pathlib import Path

    from classifier.backends import load_model
    from classifier.config import Settings
    from classifier.preprocess import preprocess
    from classifier_modelbuild.parity import top5

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
                fast_size = (fast.shape[1], fast.shape[0])
                margin = DRAFT_MARGIN * spec.resize_shorter_side
                # reduced exactly when even halving keeps the margin
                assert (fast_size != scaled.size) == (min(scaled.size) > 2 * margin)
                assert min(fast_size) >= min(margin, min(scaled.size))
                reduced_count += fast_size != scaled.size
                full.append(preprocess(decode_image(data, max_pixels=LIMIT), spec))
                reduced.append(preprocess(fast, spec))
    assert reduced_count >= 30
    assert top5(backend.predict(np.stack(full))) == top5(backend.predict(np.stack(reduced)))


def test_small_jpegs_and_other_formats_decode_at_full_scale() -> None:
    assert decode_image(photos.encode("coffee"), max_pixels=LIMIT, target=256).shape == (400, 600, 3)
    assert decode_image(photos.encode("coffee", "PNG"), max_pixels=LIMIT, target=64).shape == (400, 600, 3)


def _pillow_decode(data: bytes, target: int | None = None) -> np.ndarray:
    """What the service decoded before simplejpeg: Pillow, with draft for large JPEGs."""
    image = Image.open(io.BytesIO(data))
    if target is not None:
        scale = DRAFT_MARGIN * target / min(image.size)
        if scale < 0.5:
            image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(
    "options",
    [
        {"subsampling": "4:2:0"},
        {"subsampling": "4:2:2"},
        {"subsampling": "4:4:4"},
        {"progressive": True},
        {"quality": 60, "optimize": True},
        {"mode": "L"},
    ],
    ids=["420", "422", "444", "progressive", "q60-optimised", "grey"],
)
def test_jpeg_pixels_are_pillows_at_every_dct_scale(options: dict[str, object]) -> None:
    """libjpeg-turbo via simplejpeg gives Pillow's bytes: full size and 1/2, 1/4, 1/8, odd sizes too."""
    mode = str(options.pop("mode", "RGB"))
    image = photos.photo("astronaut").convert(mode)
    reductions = set()
    for width, height in ((512, 512), (1301, 1283), (2603, 2601), (3843, 5121)):
        buffer = io.BytesIO()
        image.resize((width, height), Image.Resampling.BILINEAR).save(
            buffer, "JPEG", **({"quality": 90} | options)
        )
        data = buffer.getvalue()
        for target in (None, 256, 64):
            pixels = decode_image(data, max_pixels=LIMIT, target=target)
            np.testing.assert_array_equal(
                pixels, _pillow_decode(data, target), f"{width}x{height} target {target}"
            )
            reductions.add(round(width / pixels.shape[1]))
    assert reductions == {1, 2, 4, 8}


def test_a_jpeg_libjpeg_only_warns_about_decodes_as_pillow_does() -> None:
    data = photos.encode("coffee")
    # Stray bytes before the end-of-image marker: libjpeg warns, Pillow decodes anyway.
    damaged = data[:-2] + b"\x00\x00" + data[-2:]
    np.testing.assert_array_equal(decode_image(damaged, max_pixels=LIMIT), _pillow_decode(damaged))


def test_cmyk_jpeg_is_converted_as_pillow_converts_it() -> None:
    buffer = io.BytesIO()
    photos.photo("coffee").convert("CMYK").save(buffer, "JPEG")
    np.testing.assert_array_equal(
        decode_image(buffer.getvalue(), max_pixels=LIMIT), _pillow_decode(buffer.getvalue())
    )
