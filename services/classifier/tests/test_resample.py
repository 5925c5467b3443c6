"""The C resize gives Pillow's bytes exactly: photos at the service's crop boxes, and random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from classifier import _resample
from classifier.artifact import Preprocessing
from classifier.preprocess import crop_box
from classifier.resample import Interpolation, resize_box
from classifier_testkit import photos

SPEC = Preprocessing(
    resize_shorter_side=256, crop_size=224, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3
)
PILLOW_FILTER = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def _pillow(
    pixels: np.ndarray, box: tuple[float, ...], size: tuple[int, int], interpolation: str
) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(size, PILLOW_FILTER[interpolation], box=box))


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("vectorised", [True, False])
def test_photos_at_the_service_crop_boxes_match_pillow(
    interpolation: Interpolation, vectorised: bool
) -> None:
    for name in ("coffee", "chelsea", "astronaut", "camera"):
        image = photos.photo(name)
        for width in (120, 451, 1008, 2016, 4032):  # up- and downscales, camera sizes
            height = round(image.height * width / image.width)
            pixels = np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))
            box = crop_box(width, height, SPEC)
            got = resize_box(pixels, box, (224, 224), interpolation, vectorised=vectorised)
            np.testing.assert_array_equal(
                got, _pillow(pixels, box, (224, 224), interpolation), f"{name} {width}"
            )


@pytest.mark.parametrize("vectorised", [True, False])
def test_random_images_boxes_and_sizes_match_pillow(vectorised: bool) -> None:
    """Both pass orders (Pillow runs the vertical pass first when the height shrinks most),
    up- and downscaling on either axis, boxes touching the edges, one-pixel images."""
    rng = np.random.default_rng(7)
    for case in range(400):
        height, width = (int(v) for v in rng.integers(1, 320, 2))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        left, top = rng.uniform(0, width - 0.5), rng.uniform(0, height - 0.5)
        box = (left, top, rng.uniform(left + 0.25, width), rng.uniform(top + 0.25, height))
        if case % 4 == 0:
            box = (0.0, 0.0, float(width), float(height))
        size = (int(rng.integers(1, 300)), int(rng.integers(1, 300)))
        interpolation: Interpolation = "bicubic" if case % 2 else "bilinear"
        got = resize_box(pixels, box, size, interpolation, vectorised=vectorised)
        expected = _pillow(pixels, box, size, interpolation)
        np.testing.assert_array_equal(got, expected, f"case {case}: {width}x{height} {box} -> {size}")


@pytest.mark.parametrize("vectorised", [True, False])
def test_wide_kernels_of_large_reductions_match_pillow(vectorised: bool) -> None:
    """A 6000-pixel PNG reduced to the crop reads ~75 taps per output pixel (a JPEG just short of
    a DCT reduction ~41); random noise keeps the weighted sums away from round numbers."""
    rng = np.random.default_rng(11)
    for width, height in ((6000, 4000), (3838, 2559), (4000, 300)):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        box = crop_box(width, height, SPEC)
        for interpolation in ("bicubic", "bilinear"):
            got = resize_box(pixels, box, (224, 224), interpolation, vectorised=vectorised)  # type: ignore[arg-type]
            np.testing.assert_array_equal(
                got, _pillow(pixels, box, (224, 224), interpolation), f"{width}x{height}"
            )
        whole = resize_box(pixels, (0.0, 0.0, width, height), (7, 5), "bicubic", vectorised=vectorised)
        np.testing.assert_array_equal(whole, _pillow(pixels, (0, 0, width, height), (7, 5), "bicubic"))


def test_non_contiguous_input_is_accepted() -> None:
    pixels = np.asarray(photos.photo("coffee"))[::2, ::2]
    box = (10.0, 10.0, 250.0, 150.0)
    np.testing.assert_array_equal(
        resize_box(pixels, box, (64, 48), "bicubic"),
        _pillow(np.ascontiguousarray(pixels), box, (64, 48), "bicubic"),
    )


@pytest.mark.parametrize(
    ("box", "size", "interpolation", "message"),
    [
        ((0, 0, 10, 10), (5, 5), "lanczos", "unknown filter 'lanczos'"),
        ((0, 0, 11, 10), (5, 5), "bicubic", "box must lie inside"),
        ((5, 0, 5, 10), (5, 5), "bicubic", "positive area"),
        ((0, 0, 10, 10), (0, 5), "bicubic", "sizes must be positive"),
        ((0, 0, float("nan"), 10), (5, 5), "bicubic", "box must lie inside"),
        ((0, 0, 10, float("inf")), (5, 5), "bicubic", "box must lie inside"),
    ],
)
def test_bad_arguments_raise_value_error(
    box: tuple[float, ...], size: tuple[int, int], interpolation: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resize_box(np.zeros((10, 10, 3), np.uint8), box, size, interpolation)  # type: ignore[arg-type]


def test_only_rgb_bytes_are_accepted() -> None:
    with pytest.raises(ValueError, match="height x width x 3 uint8"):
        resize_box(np.zeros((10, 10, 4), np.uint8), (0, 0, 10, 10), (5, 5), "bicubic")
    with pytest.raises(ValueError, match="height x width x 3 uint8"):
        resize_box(np.zeros((10, 10, 3), np.float32), (0, 0, 10, 10), (5, 5), "bicubic")  # type: ignore[arg-type]


WIDE = 2**25 + 8  # float32 holds it exactly; its steps there are 4 pixels


def _wide_row(width: int) -> np.ndarray:
    """One row, noise only where the boxes below read (random bytes for all of it cost ~1 s)."""
    row = np.zeros((1, width, 3), np.uint8)
    row[0, -8192:] = np.random.default_rng(width).integers(0, 256, (8192, 3), dtype=np.uint8)
    return row


@pytest.mark.parametrize("vectorised", [True, False])
def test_boxes_at_the_far_edge_of_a_row_near_two_to_the_25_match_pillow(vectorised: bool) -> None:
    """Boxes touching the end of a 33-megapixel row (and of a column: the other pass), up- and
    downscaled; its float32 coordinates are 4 pixels apart."""
    row = _wide_row(WIDE)
    column = row.reshape(WIDE, 1, 3)
    for left, size in ((WIDE - 8, (5, 1)), (WIDE - 4, (1000, 1)), (WIDE - 4104, (3, 1))):
        box = (float(left), 0.0, float(WIDE), 1.0)
        for interpolation in ("bicubic", "bilinear"):
            got = resize_box(row, box, size, interpolation, vectorised=vectorised)
            np.testing.assert_array_equal(got, _pillow(row, box, size, interpolation), f"{box} {size}")
            tall_box, tall_size = (0.0, box[0], 1.0, box[2]), (size[1], size[0])
            got = resize_box(column, tall_box, tall_size, interpolation, vectorised=vectorised)
            np.testing.assert_array_equal(got, _pillow(column, tall_box, tall_size, interpolation))


@pytest.mark.parametrize("vectorised", [True, False])
def test_box_past_a_width_that_float32_rounds_up_is_refused(vectorised: bool) -> None:
    """float32(2^25 + 6) is 2^25 + 8, so a float32 comparison (Pillow's) lets this box end two
    pixels past the row; its last kernels then start past the row and read beyond it."""
    width = 2**25 + 6
    for pixels, box in (
        (np.zeros((1, width, 3), np.uint8), (2**25 + 4, 0, 2**25 + 8, 1)),
        (np.zeros((width, 1, 3), np.uint8), (0, 2**25 + 4, 1, 2**25 + 8)),
    ):
        with pytest.raises(ValueError, match="box must lie inside"):
            resize_box(pixels, box, (1000, 1000), "bilinear", vectorised=vectorised)


@pytest.mark.parametrize("vectorised", [True, False])
def test_sub_pixel_boxes_and_huge_scale_factors_match_pillow(vectorised: bool) -> None:
    """Boxes far below a pixel (enlarged ~1000x), the last pixel alone, and a million-pixel row
    reduced to one pixel (four million taps)."""
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    long_row = rng.integers(0, 256, (1, 2**20, 3), dtype=np.uint8)
    cases = [
        (small, (8.0, 6.0, 9.0, 7.0), (5, 3)),
        (small, (8.75, 6.9, 9.0, 7.0), (300, 200)),
        (small, (0.0, 0.0, 0.001, 0.001), (3, 2)),
        (small, (4.5, 0.0, 4.5001, 7.0), (2, 300)),
        (small, (0.0, 0.0, 9.0, 7.0), (1, 1)),
        (long_row, (0.0, 0.0, 2.0**20, 1.0), (1, 1)),
        (long_row, (0.0, 0.0, 2.0**20, 1.0), (3, 2)),
    ]
    for pixels, box, size in cases:
        for interpolation in ("bicubic", "bilinear"):
            got = resize_box(pixels, box, size, interpolation, vectorised=vectorised)
            np.testing.assert_array_equal(got, _pillow(pixels, box, size, interpolation), f"{box} {size}")


@pytest.mark.parametrize(
    ("width", "height", "box", "size", "message"),
    [
        (500_000_000, 1, (0, 0, 1, 1), (224, 224), "at most 268435456"),
        (1, 500_000_000, (0, 0, 1, 1), (224, 224), "at most 268435456"),
        (1, 1, (0, 0, 1, 1), (2**31, 1), "at most 268435456"),
        (2**40, 1, (0, 0, 1, 1), (1, 1), "at most 268435456"),
        (2**28, 1, (0, 0, 2**28, 1), (1, 1), "taps"),
        (1, 2**27, (0, 0, 1, 2**27), (1, 2), "taps"),
    ],
)
def test_sizes_past_the_caps_are_refused_before_anything_is_allocated(
    width: int, height: int, box: tuple[float, float, float, float], size: tuple[int, int], message: str
) -> None:
    """Index arithmetic stays in int below 2^28 a side; kernels stay below Pillow's own limit (its
    coefficient table under 2 GiB). The pixel limit keeps real images far below both."""
    with pytest.raises(ValueError, match=message):
        _resample.resize(np.empty(0, np.uint8), width, height, box, *size, "bicubic")
