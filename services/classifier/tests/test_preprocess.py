"""Preprocessing follows the model's recipe: shorter side to crop/0.875, centre crop, [-1, 1]."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from classifier.artifact import Preprocessing
from classifier.preprocess import crop_box, preprocess
from classifier_testkit import photos

SPEC = Preprocessing(
    resize_shorter_side=256, crop_size=224, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3
)


def _solid(width: int, height: int, colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    return np.asarray(Image.new("RGB", (width, height), colour))


def test_output_is_chw_float32_in_minus_one_to_one() -> None:
    tensor = preprocess(_solid(640, 480, (255, 0, 128)), SPEC)
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == np.float32
    assert tensor.flags.c_contiguous
    np.testing.assert_allclose(tensor[:, 100, 100], [1.0, -1.0, 128 / 127.5 - 1], atol=1e-6)


def test_centre_crop_keeps_the_middle() -> None:
    pixels = _solid(512, 256).copy()
    pixels[:, 192:320] = 255  # a white band in the middle quarter
    tensor = preprocess(pixels, SPEC)
    assert tensor[0, 112, 112] > 0.9  # centre is white
    assert tensor[0, 112, 0] < -0.9  # edges of the crop are black


def test_tiny_and_extreme_aspect_images_still_give_the_input_shape() -> None:
    for size in [(1, 1), (3000, 10), (10, 3000), (224, 224)]:
        assert preprocess(_solid(*size), SPEC).shape == (3, 224, 224)


def _reference(image: Image.Image, spec: Preprocessing) -> np.ndarray:
    """The textbook recipe, all in Pillow: resize the whole image, then crop, then normalise."""
    width, height = image.size
    scale = spec.resize_shorter_side / min(width, height)
    size = (max(spec.crop_size, round(width * scale)), max(spec.crop_size, round(height * scale)))
    resized = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - spec.crop_size) // 2, (size[1] - spec.crop_size) // 2
    crop = resized.crop((left, top, left + spec.crop_size, top + spec.crop_size))
    return (np.asarray(crop, dtype=np.float32) / 127.5 - 1.0).transpose(2, 0, 1)


def test_resampling_only_the_crop_matches_the_textbook_recipe() -> None:
    for name in ("coffee", "chelsea", "rocket", "astronaut", "camera"):
        image = photos.photo(name)
        difference = np.abs(preprocess(np.asarray(image), SPEC) - _reference(image, SPEC))
        assert difference.max() <= 1 / 127.5 + 1e-6, name  # at most one 8-bit level, anywhere
        assert difference.mean() < 1e-5, name


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (1, 16_777_216),
        (16_777_216, 1),
        (2, 8_000_000),
        (3, 5_000_000),
        (10, 1_000_000),
        (1_000_000, 10),
        (1, 18_259_986),  # past 2^24 a float32 step is wider than the 0.875-pixel box
        (30_122_000, 1),
    ],
)
def test_extreme_aspect_images_match_pillow_at_their_crop_box(width: int, height: int) -> None:
    """Any image within a pixel limit (4096 x 4096, or today's 40 megapixels) preprocesses to
    Pillow's pixels for the box `crop_box` chose."""
    pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    box = crop_box(width, height, SPEC)
    expected = np.asarray(Image.fromarray(pixels).resize((224, 224), Image.Resampling.BICUBIC, box=box))
    tensor = preprocess(pixels, SPEC)
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == np.float32
    # 1e-5 is far below one 8-bit level (1/127.5): the same bytes, normalised.
    np.testing.assert_allclose(tensor, expected.transpose(2, 0, 1) / 127.5 - 1.0, atol=1e-5)


def test_crop_box_survives_float32_inside_the_image_for_any_shape() -> None:
    """Pillow and resize_box read the box as float32: after that rounding it must still lie in
    the image and keep its size, or at least a pixel of it, to within one float32 step."""
    rng = np.random.default_rng(5)
    long_sides = [2**24 + 1, 2**25 - 1, 2**25 + 6, 2**31 - 1, *(int(v) for v in rng.integers(1, 2**31, 300))]
    short_sides = [1, 2, 3, 10, *(int(v) for v in rng.integers(1, 64, 20))]
    specs = [
        Preprocessing(
            resize_shorter_side=int(crop / 0.875),
            crop_size=crop,
            interpolation="bicubic",
            mean=(0.5,) * 3,
            std=(0.5,) * 3,
        )
        for crop in (224, 240, 260)
    ]
    for spec in specs:
        for long_side in long_sides:
            for short_side in short_sides:
                for width, height in ((short_side, long_side), (long_side, short_side)):
                    box = crop_box(width, height, spec)
                    for low, high, size in ((box[0], box[2], width), (box[1], box[3], height)):
                        low32, high32 = float(np.float32(low)), float(np.float32(high))
                        step = float(np.spacing(np.float32(high)))
                        assert 0 <= low32 < high32 <= size, (width, height, box)
                        assert high32 - low32 >= min(1.0, high - low) - step, (width, height, box)
