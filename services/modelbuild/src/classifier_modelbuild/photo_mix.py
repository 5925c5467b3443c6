"""Hundreds of distinct, deterministic inputs from the real photos scikit-image ships.

No photo can be downloaded here, so variety comes from views of the photos there are: a random
crop (35-100% of the area, aspect 3:4 to 4:3), a mirror image half of the time, and a random
size. The model-quality gate uses them twice: as the golden set the paired check sends to both
models (`classifier_modelbuild.golden`) and as the drill's and the calibration's traffic mix.
Colour photos dominate, because a swapped-channel model is indistinguishable on grey ones.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageOps

# scikit-image photos available without a download (data.<name>), colour first.
COLOUR_SOURCES = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "retina", "colorwheel", "logo", "motorcycle_left", "motorcycle_right",
)  # fmt: skip
GREY_SOURCES = ("camera", "clock", "coins", "horse", "moon", "brick", "page")
SOURCES = COLOUR_SOURCES + GREY_SOURCES
# Source photo -> labels a correct ImageNet classifier ranks first on a view that keeps most of
# the photo (checked by hand on the photos; see CLEAR_VIEW_AREA).
CLEAR_LABELS = {
    "coffee": ("espresso", "cup", "coffee mug"),
    "chelsea": ("Egyptian cat", "tiger cat", "tabby"),
    "rocket": ("missile", "projectile"),
}
CLEAR_VIEW_AREA = 0.6  # a view keeping at least this share of its photo keeps the subject
MIN_AREA, ASPECTS, SIZES = 0.35, (3 / 4, 4 / 3), (160, 480)


@dataclass(frozen=True, slots=True)
class View:
    """One input: which photo, how it was cut, and the labels it must get if it is a clear one."""

    name: str
    source: str
    image: Image.Image
    area: float
    expected: tuple[str, ...]

    def jpeg(self) -> bytes:
        """As a client sends it (quality 90, like classifier_testkit.photos)."""
        buffer = io.BytesIO()
        self.image.save(buffer, format="JPEG", quality=90)
        return buffer.getvalue()


@cache
def source_photo(name: str) -> Image.Image:
    from skimage import data

    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()  # type: ignore[no-untyped-call]
        array = left if name.endswith("left") else right
    else:
        array = getattr(data, name)()
    return Image.fromarray(array).convert("RGB")


def view(source: str, number: int, seed: int) -> View:
    """The `number`-th view of `source` for this seed: the same image on every machine."""
    rng = random.Random(f"{seed}/{source}/{number}")
    photo = source_photo(source)
    width, height = photo.size
    area = rng.uniform(MIN_AREA, 1.0)
    aspect = rng.uniform(*ASPECTS)
    crop_w = min(width, round((area * width * height * aspect) ** 0.5))
    crop_h = min(height, round((area * width * height / aspect) ** 0.5))
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    image = photo.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    shorter = rng.randint(*SIZES)
    scale = shorter / min(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    kept = crop_w * crop_h / (width * height)
    expected = CLEAR_LABELS.get(source, ()) if kept >= CLEAR_VIEW_AREA else ()
    return View(f"{source}-{seed}-{number:03d}", source, image, kept, expected)


def photo_mix(count: int, seed: int, sources: tuple[str, ...] = SOURCES) -> list[View]:
    """`count` views, cycling through the sources so each is about equally represented."""
    return [view(sources[i % len(sources)], i // len(sources), seed) for i in range(count)]
