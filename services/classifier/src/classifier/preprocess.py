"""Resize, centre-crop and normalise an RGB image into the model's CHW float32 input."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from classifier.artifact import Preprocessing

_INTERPOLATION = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def preprocess(image: Image.Image, spec: Preprocessing) -> npt.NDArray[np.float32]:
    """Return a ``[3, crop, crop]`` float32 array, normalised as the model was trained.

    Equivalent to "resize the shorter side to ``resize_shorter_side``, then centre-crop", but
    only the crop is resampled (Pillow's ``box``), which skips the pixels the crop throws away.
    """
    width, height = image.size
    crop = spec.crop_size
    scale = spec.resize_shorter_side / min(width, height)
    resized_width, resized_height = max(crop, round(width * scale)), max(crop, round(height * scale))
    left, top = (resized_width - crop) // 2, (resized_height - crop) // 2
    x_ratio, y_ratio = width / resized_width, height / resized_height
    box = (left * x_ratio, top * y_ratio, (left + crop) * x_ratio, (top + crop) * y_ratio)
    cropped = image.resize((crop, crop), _INTERPOLATION[spec.interpolation], box=box)
    pixels = np.asarray(cropped, dtype=np.float32)
    multiplier, offset = _affine(spec)
    normalised = pixels * multiplier + offset
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def _affine(spec: Preprocessing) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(x/255 - mean)/std as x*multiplier + offset, per channel."""
    std = np.asarray(spec.std, dtype=np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    return (1.0 / (255.0 * std)).astype(np.float32), (-mean / std).astype(np.float32)
