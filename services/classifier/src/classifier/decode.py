"""Turn untrusted bytes into an RGB image, refusing anything that is not a sane photo.

The pixel-count check runs on the header alone, before any pixel is decoded, so a
decompression bomb costs a few hundred bytes of parsing, not gigabytes of memory.
"""

from __future__ import annotations

import io
import math
import warnings

from PIL import Image, UnidentifiedImageError

from classifier.errors import InvalidImage, PayloadTooLarge

# Formats the API promises; Pillow is restricted to these so no other decoder sees client bytes.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")
SUPPORTED_MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


# A JPEG is decoded at a reduced DCT scale (1/2, 1/4, 1/8) only while its shorter side stays
# at least this many times the size preprocessing resizes to, so the antialiased resize that
# follows sees enough pixels that the top-5 does not change (tests/test_decode.py: 80 camera-
# sized variants of the sample photos). A margin of 3 or 4 swapped near-tied cat classes (0.02
# apart in logits) on a few of them; with 5 a 12-megapixel phone photo still decodes at 1/2.
DRAFT_MARGIN = 5


def decode_image(data: bytes, *, max_pixels: int, target: int | None = None) -> Image.Image:
    """Decode ``data`` into an RGB image of at most ``max_pixels`` pixels.

    With ``target`` (the shorter side preprocessing will resize to), a large JPEG is decoded
    at a reduced scale: several times less work for a camera-sized photo.
    """
    if not data:
        raise InvalidImage("the request body is empty; send the image bytes")
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
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels")
    if target is not None and image.format == "JPEG":
        _decode_reduced(image, target)
    try:
        image.load()
        return image if image.mode == "RGB" else image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise InvalidImage(f"the image data is truncated or corrupt: {error}") from None


def _decode_reduced(image: Image.Image, target: int) -> None:
    width, height = image.size
    scale = DRAFT_MARGIN * target / min(width, height)
    if scale < 0.5:  # a reduction of at least 2 is possible
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
