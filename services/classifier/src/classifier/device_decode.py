"""JPEG decode and preprocessing on the model's device (CLASSIFIER_DECODE_STAGE=device).

On a GPU node the CPU is what runs out first: issue #18 measured decode + preprocess on 16 cores
at about 1,000 images/s, a quarter of the GPU's target. Here a batch's JPEGs are decoded together
by TorchCodec's `decode_jpeg` (one nvJPEG call per batch on CUDA; TorchCodec 0.16+ replaces
torchvision's image decoders, deprecated since torchvision 0.29), then each is resized to the CPU
path's geometry (preprocess.resized_size) with torch's antialiased interpolation (the artifact's
filter) one axis at a time, rounded to bytes in between and in Pillow's pass order as the CPU
path's resize is (resample.py), centre-cropped and normalised on the device; the batch never
leaves it before the model. The pixels are close to Pillow's, not equal, so the criterion is the
top-5, checked against the CPU path (tests/test_device_decode.py: every parity and benchmark
photo, and the top-1 of all 120 real-photo views measured; `make bench-gpu` on the GPU).

What the device does not take stays on the CPU path (`ImagePreparation`): PNG, WebP, JPEGs in
colour spaces other than grey, YCbCr and RGB or longer than 4:1 (MAX_ASPECT), and a batch the
device fails to decode, whose images are then prepared one by one, so a corrupt JPEG gets the CPU
path's 400 and the rest of its batch still runs. The pixel limit is checked on the header before
anything is decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from classifier.artifact import Preprocessing
from classifier.decode import jpeg_header
from classifier.metrics import ServiceMetrics
from classifier.preprocess import centred_crop_origin, resized_size

if TYPE_CHECKING:
    import torch

# Longest side of the resized image, in shorter sides: beyond it the CPU path prepares the image.
MAX_ASPECT = 4


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A batch of model inputs on the device, ``[N, 3, crop, crop]`` float32, and its cost."""

    tensor: torch.Tensor
    decode_s: float
    preprocess_s: float


class DeviceDecoder:
    """Decodes and prepares JPEGs on ``device`` (a torch device string such as ``cuda:0``)."""

    def __init__(
        self, spec: Preprocessing, max_pixels: int, device: str, metrics: ServiceMetrics | None = None
    ) -> None:
        import torch

        self._spec = spec
        self._max_pixels = max_pixels
        self._device = torch.device(device)
        self._metrics = metrics
        # (x/255 - mean)/std as one multiply-add per plane, as preprocess.py does on the CPU.
        std = torch.tensor(spec.std, dtype=torch.float32)
        mean = torch.tensor(spec.mean, dtype=torch.float32)
        self._scale = (1.0 / (255.0 * std)).view(3, 1, 1).to(self._device)
        self._offset = (-mean / std).view(3, 1, 1).to(self._device)

    def accepts(self, data: bytes) -> bool:
        """Whether the device decodes this image; raises PayloadTooLarge or InvalidImage when its
        header already says it is too big or has no pixels (nothing is decoded then)."""
        header = jpeg_header(data, self._max_pixels)
        if header is None:
            return False
        height, width = header
        # The device resizes the whole image before cropping: a long thin one would be resized to
        # millions of rows, so it takes the CPU path, which resamples only the crop's box.
        return max(resized_size(width, height, self._spec)) <= MAX_ASPECT * self._spec.resize_shorter_side

    def __call__(self, images: list[bytes], *, record: bool = True) -> DecodedBatch:
        """The images (each one `accepts`) as one batch on the device; raises if the device
        cannot decode them (the caller prepares them on the CPU instead). ``record``: count the
        stage times in the metrics (not for the warm-up)."""
        import torch
        from torchcodec.decoders import decode_jpeg  # type: ignore[attr-defined]  # public, not in __all__

        started = time.perf_counter()
        decoded = decode_jpeg(list(images), mode="RGB", device=self._device)
        self._synchronise()
        done_decoding = time.perf_counter()
        rows = [self._prepared(pixels) for pixels in decoded]
        batch = torch.stack(rows)
        self._synchronise()
        done = time.perf_counter()
        if record and self._metrics is not None:
            for _ in images:
                self._metrics.decode_duration.observe((done_decoding - started) / len(images))
                self._metrics.preprocess_duration.observe((done - done_decoding) / len(images))
        return DecodedBatch(batch, done_decoding - started, done - done_decoding)

    def _prepared(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[3, H, W]`` bytes -> ``[3, crop, crop]`` model input, on the device."""
        height, width = pixels.shape[1:]
        resized_width, resized_height = resized_size(width, height, self._spec)
        left, top = centred_crop_origin(resized_width, resized_height, self._spec)
        image = pixels[None].float()
        # One axis at a time, rounded to bytes in between and in Pillow's pass order, as the CPU
        # path's resize (resample.py) does: closer answers than one float pass over both axes.
        passes = [(height, resized_width), (resized_height, resized_width)]
        if resized_height < height and height - resized_height > (width - resized_width) * 2:
            passes = [(resized_height, width), (resized_height, resized_width)]
        for size in passes:
            image = self._interpolate(image, size).round_().clamp_(0, 255)
        crop = self._spec.crop_size
        return image[0, :, top : top + crop, left : left + crop] * self._scale + self._offset

    def _interpolate(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        import torch

        if tuple(image.shape[2:]) == size:
            return image
        return torch.nn.functional.interpolate(
            image, size=size, mode=self._spec.interpolation, antialias=True
        )

    def _synchronise(self) -> None:
        """Wait for the device, so the stage times are the work's and not the launch's."""
        if self._device.type == "cuda":
            import torch

            torch.cuda.synchronize(self._device)
