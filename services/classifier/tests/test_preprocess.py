"""Preprocessing follows the model's recipe: shorter side to crop/0.875, centre crop, [-1, 1]."""

from __future__ import annotations

import numpy as np
from PIL import Image

from classifier.artifact import Preprocessing
from classifier.modelbuild import photos
from classifier.preprocess import preprocess

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
