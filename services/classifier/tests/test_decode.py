"""Decoding untrusted bytes: accepted formats, and refusals that never decode a bomb."""

from __future__ import annotations

import io
import resource
import time

import pytest
from PIL import Image

from classifier.decode import decode_image
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
