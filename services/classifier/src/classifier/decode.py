"""Turn untrusted bytes into RGB pixels, refusing anything that is not a sane photo.

The pixel-count check runs on the header alone, before any pixel is decoded, so a
decompression bomb costs a few hundred bytes of parsing, not gigabytes of memory.

JPEGs are decoded by libjpeg-turbo through simplejpeg, straight into a numpy array: the same
library and settings as Pillow's decoder, so the same pixels (tests/test_decode.py compares
them), without Pillow's per-line copies. Anything simplejpeg declines (CMYK, or data that
libjpeg only warns about and Pillow accepts) takes Pillow's path, as every PNG and WebP does.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from classifier.errors import InvalidImage, PayloadTooLarge
from classifier.resample import RGBPixels

# Formats the API promises; Pillow is restricted to these so no other decoder sees client bytes.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")
SUPPORTED_MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}

_JPEG_SIGNATURE = b"\xff\xd8\xff"
_COLOURSPACES_TO_RGB = {"Gray", "YCbCr", "RGB"}  # libjpeg-turbo converts these as Pillow does

# A JPEG is decoded at a reduced DCT scale (1/2, 1/4, 1/8) only while its shorter side stays
# at least this many times the size preprocessing resizes to, so the antialiased resize that
# follows sees enough pixels that the top-5 does not change (tests/test_decode.py: 80 camera-
# sized variants of the sample photos). A margin of 3 or 4 swapped near-tied cat classes (0.02
# apart in logits) on a few of them; with 5 a 12-megapixel phone photo still decodes at 1/2.
DRAFT_MARGIN = 5


def decode_image(data: bytes, *, max_pixels: int, target: int | None = None) -> RGBPixels:
    """Decode ``data`` into height x width x 3 RGB bytes, at most ``max_pixels`` pixels.

    With ``target`` (the shorter side preprocessing will resize to), a large JPEG is decoded
    at a reduced scale: several times less work for a camera-sized photo.
    """
    if not data:
        raise InvalidImage("the request body is empty; send the image bytes")
    pixels = _decode_jpeg(data, max_pixels, target)
    if pixels is not None:
        return pixels
    return _decode_with_pillow(data, max_pixels, target)


def jpeg_header(data: bytes, max_pixels: int) -> tuple[int, int] | None:
    """(height, width) of a JPEG libjpeg-turbo converts to RGB as Pillow does; None where Pillow's
    path should decide (not a JPEG, an unreadable header, CMYK). Raises PayloadTooLarge past
    ``max_pixels`` and InvalidImage for no pixels: the header alone decides both."""
    if not data.startswith(_JPEG_SIGNATURE):
        return None
    try:
        height, width, colourspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colourspace not in _COLOURSPACES_TO_RGB:
        return None
    _check_pixel_count(width, height, max_pixels)
    return height, width


def _decode_jpeg(data: bytes, max_pixels: int, target: int | None) -> RGBPixels | None:
    """libjpeg-turbo straight into numpy; None where Pillow's path should decide."""
    header = jpeg_header(data, max_pixels)
    if header is None:
        return None
    height, width = header
    reduction = _reduction(width, height, target)
    expected = (math.ceil(height / reduction), math.ceil(width / reduction))
    try:
        pixels: RGBPixels = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_height=expected[0], min_width=expected[1]
        )
    except ValueError:  # corrupt, or a warning libjpeg raises in strict mode: Pillow decides
        return None
    return pixels if pixels.shape[:2] == expected else None


def _decode_with_pillow(data: bytes, max_pixels: int, target: int | None) -> RGBPixels:
    try:
        with warnings.catch_warnings():
            # Our own limit below replaces Pillow's global bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError:
        raise InvalidImage("the body is not a JPEG, PNG or WebP image") from None
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"the image has too many pixels (limit {max_pixels:,})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidImage(f"the image header is corrupt: {error}") from None
    width, height = image.size
    _check_pixel_count(width, height, max_pixels)
    draft = _draft_size(width, height, target)
    if draft is not None and image.format == "JPEG":
        image.draft("RGB", draft)
    try:
        image.load()
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise InvalidImage(f"the image data is truncated or corrupt: {error}") from None


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels")


def _draft_size(width: int, height: int, target: int | None) -> tuple[int, int] | None:
    """The smallest size that keeps DRAFT_MARGIN x target pixels on the shorter side, when a
    DCT reduction of at least 2 can reach it; None when the image must decode at full size."""
    if target is None:
        return None
    scale = DRAFT_MARGIN * target / min(width, height)
    return (math.ceil(width * scale), math.ceil(height * scale)) if scale < 0.5 else None


def _reduction(width: int, height: int, target: int | None) -> int:
    """The DCT scale denominator (1, 2, 4 or 8): Pillow's ``draft`` choice for `_draft_size`."""
    wanted = _draft_size(width, height, target)
    if wanted is None:
        return 1
    fits = min(width // wanted[0], height // wanted[1])
    return next(factor for factor in (8, 4, 2, 1) if fits >= factor)
