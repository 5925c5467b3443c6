"""Resize, centre-crop and normalise RGB pixels into the model's CHW float32 input."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from classifier.artifact import Preprocessing
from classifier.resample import Box, RGBPixels, resize_box


def preprocess(pixels: RGBPixels, spec: Preprocessing) -> npt.NDArray[np.float32]:
    """Return a ``[3, crop, crop]`` float32 array, normalised as the model was trained."""
    height, width = pixels.shape[:2]
    crop = spec.crop_size
    cropped = resize_box(pixels, crop_box(width, height, spec), (crop, crop), spec.interpolation)
    # Channels first while still bytes, then one multiply and one add over whole planes: a
    # tenth of the time of normalising the interleaved pixels (inner loops of length 3).
    planes = np.ascontiguousarray(cropped.transpose(2, 0, 1))
    multiplier, offset = _affine(spec)
    normalised = np.multiply(planes, multiplier[:, None, None], dtype=np.float32)
    normalised += offset[:, None, None]
    return normalised


def crop_box(width: int, height: int, spec: Preprocessing) -> Box:
    """The input region that "resize the shorter side, then centre-crop" keeps.

    Resampling only this box to the crop size (Pillow's ``box``) gives the same pixels as
    resizing the whole image and cropping, without computing the pixels the crop throws away.
    """

    def float32_span(low: float, high: float, size: int) -> tuple[float, float]:
        """The box reaches Pillow and resize_box as float32: keep it non-empty and inside."""
        if float(np.float32(low)) < float(np.float32(high)) <= size:
            return low, high
        # Past 2^24 pixels a float32 step outgrows the box (0.875 px on 1 x 20,000,000): round outwards.
        below, above = np.float32(low), np.float32(high)
        if float(below) > low:
            below = np.nextafter(below, np.float32(0))
        if float(above) < high:
            above = np.nextafter(above, np.float32(np.inf))
        edge = np.float32(size)
        if float(edge) > size:
            edge = np.nextafter(edge, np.float32(0))
        return float(below), float(min(above, edge))

    crop = spec.crop_size
    resized_width, resized_height = resized_size(width, height, spec)
    left, top = centred_crop_origin(resized_width, resized_height, spec)
    x_ratio, y_ratio = width / resized_width, height / resized_height
    x0, x1 = float32_span(left * x_ratio, (left + crop) * x_ratio, width)
    y0, y1 = float32_span(top * y_ratio, (top + crop) * y_ratio, height)
    return (x0, y0, x1, y1)


def resized_size(width: int, height: int, spec: Preprocessing) -> tuple[int, int]:
    """(width, height) once the shorter side is resized to ``spec.resize_shorter_side`` (never
    smaller than the crop): the geometry every path shares (device_decode.py resizes to it)."""
    crop = spec.crop_size
    scale = spec.resize_shorter_side / min(width, height)
    return max(crop, round(width * scale)), max(crop, round(height * scale))


def centred_crop_origin(resized_width: int, resized_height: int, spec: Preprocessing) -> tuple[int, int]:
    """(left, top) of the centred crop in the resized image."""
    return (resized_width - spec.crop_size) // 2, (resized_height - spec.crop_size) // 2


def _affine(spec: Preprocessing) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(x/255 - mean)/std as x*multiplier + offset, per channel."""
    std = np.asarray(spec.std, dtype=np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    return (1.0 / (255.0 * std)).astype(np.float32), (-mean / std).astype(np.float32)
