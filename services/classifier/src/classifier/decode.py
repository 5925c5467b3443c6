"""Turn untrusted bytes into an RGB image, refusing anything that is not a sane photo.

The pixel-count check runs on the header alone, before any pixel is decoded, so a
decompression bomb costs a few hundred bytes of parsing, not gigabytes of memory.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from classifier.errors import InvalidImage, PayloadTooLarge

# Formats the API promises; Pillow is restricted to these so no other decoder sees client bytes.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")
SUPPORTED_MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode ``data`` into an RGB image of at most ``max_pixels`` pixels."""
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
    try:
        image.load()
        return image if image.mode == "RGB" else image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise InvalidImage(f"the image data is truncated or corrupt: {error}") from None
