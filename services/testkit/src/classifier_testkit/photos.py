"""Real photos shipped with scikit-image, encoded as a client would send them.

Used by the tests, the benchmarks and the load tests.
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image

# name -> labels a correct ImageNet classifier ranks first
EXPECTED_TOP1 = {
    "coffee": {"espresso"},
    "chelsea": {"Egyptian cat", "tiger cat", "tabby"},
    "rocket": {"missile", "projectile"},
}


@cache
def photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def encode(name: str, format: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    photo(name).save(buffer, format=format, **({"quality": 90} | options if format == "JPEG" else options))
    return buffer.getvalue()
