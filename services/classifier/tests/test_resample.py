"""The C resize gives Pillow's bytes exactly: photos at the service's crop boxes, and random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from classifier.artifact import Preprocessing
from classifier.modelbuild import photos
from classifier.preprocess import crop_box
from classifier.resample import Interpolation, resize_box

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
        ((0, 0, 10, 10), (0, 5), "bicubic", "sizes positive"),
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
