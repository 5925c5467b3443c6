"""Pillow-exact RGB resize in C (see _resample.c); use classifier.resample, not this."""

import numpy as np
import numpy.typing as npt

def resize(
    pixels: npt.NDArray[np.uint8],
    width: int,
    height: int,
    box: tuple[float, float, float, float],
    out_width: int,
    out_height: int,
    filter: str,
    vectorised: bool = True,
    /,
) -> bytes: ...
