"""Resize, centre-crop and normalise an RGB image into the model's NCHW float32 input."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from classifier.artifact import Preprocessing

_INTERPOLATION = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def preprocess(image: Image.Image, spec: Preprocessing) -> npt.NDArray[np.float32]:
    """Return a ``[3, crop, crop]`` float32 array, normalised as the model was trained."""
    width, height = image.size
    scale = spec.resize_shorter_side / min(width, height)
    resized_size = (max(spec.crop_size, round(width * scale)), max(spec.crop_size, round(height * scale)))
    resized = image.resize(resized_size, _INTERPOLATION[spec.interpolation])
    left = (resized_size[0] - spec.crop_size) // 2
    top = (resized_size[1] - spec.crop_size) // 2
    cropped = resized.crop((left, top, left + spec.crop_size, top + spec.crop_size))
    pixels = np.asarray(cropped, dtype=np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32) * 255.0
    std = np.asarray(spec.std, dtype=np.float32) * 255.0
    normalised: npt.NDArray[np.float32] = ((pixels - mean) / std).transpose(2, 0, 1)
    return np.ascontiguousarray(normalised)
