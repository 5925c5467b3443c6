"""JPEG decode and preprocessing on the model's device (CLASSIFIER_DECODE_STAGE=device).

On a GPU node the CPU is what runs out first: issue #18 measured decode + preprocess on 16 cores
at about 1,000 images/s, a quarter of the GPU's target. Here a batch's JPEGs are decoded together
by TorchCodec's batched `decode_jpeg` (nvJPEG on CUDA; TorchCodec 0.16+ replaces torchvision's
image decoders, deprecated since torchvision 0.29), then each is resized to the CPU
path's geometry (preprocess.resized_size) with torch's antialiased interpolation (the artifact's
filter) one axis at a time, rounded to bytes in between, in the order the CPU path's resize takes
(resample.py), centre-cropped and normalised on the device; the batch never
leaves it before the model. The pixels are close to Pillow's, not equal, so the criterion is the
top-5, checked against the CPU path (tests/test_device_decode.py: every parity and benchmark
photo, and most real-photo views; `make bench-gpu` on the GPU).

What the device does not take stays on the CPU path (`ImagePreparation`): PNG, WebP, JPEGs in
colour spaces other than grey, YCbCr and RGB, longer than 4:1 (MAX_ASPECT) or with an EXIF
orientation (TorchCodec would rotate them, the CPU path does not), and an image the device fails to
decode (workers.py retries a failed batch image by image), so a corrupt JPEG gets the CPU path's
400 and the rest of its batch still runs on the device. The pixel limit is checked on the header before
anything is decoded. The device decodes at full size (no DCT scaling as on the CPU): a batch holds
up to max batch x CLASSIFIER_MAX_IMAGE_PIXELS x 3 bytes of pixels on the GPU while it is prepared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from classifier.artifact import Preprocessing
from classifier.buckets import bucket_for
from classifier.decode import jpeg_header
from classifier.metrics import ServiceMetrics
from classifier.preprocess import centred_crop_origin, resized_size

if TYPE_CHECKING:
    import torch

# Longest side of the resized image, in shorter sides: beyond it the CPU path prepares the image.
MAX_ASPECT = 4


def exif_orientation(data: bytes) -> int:
    """The EXIF Orientation (tag 0x0112) of a JPEG's APP1 segment; 1 (as stored) when absent or
    unreadable. Reads the markers before the scan only, as a JPEG decoder does."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: no more header segments
            break
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position + 4 : position + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            return _tiff_orientation(segment[6:])
        position += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    order: Literal["little", "big"] = "little" if tiff[:2] == b"II" else "big"
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    for entry in range(int.from_bytes(tiff[ifd : ifd + 2], order)):
        start = ifd + 2 + 12 * entry
        if start + 12 > len(tiff):
            break
        if int.from_bytes(tiff[start : start + 2], order) == 0x0112:
            return int.from_bytes(tiff[start + 8 : start + 10], order)
    return 1


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A batch of model inputs on the device, ``[N, 3, crop, crop]`` float32, and its cost."""

    tensor: torch.Tensor
    decode_s: float
    preprocess_s: float

    @classmethod
    def joined(cls, batches: list[DecodedBatch]) -> DecodedBatch:
        import torch

        return cls(
            torch.cat([batch.tensor for batch in batches]),
            sum(batch.decode_s for batch in batches),
            sum(batch.preprocess_s for batch in batches),
        )


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
        if max(resized_size(width, height, self._spec)) > MAX_ASPECT * self._spec.resize_shorter_side:
            return False
        # TorchCodec always applies a JPEG's EXIF orientation; the CPU path never does (decode.py).
        return exif_orientation(data) == 1

    def __call__(self, images: list[bytes], *, record: bool = True) -> DecodedBatch:
        """The images (each one `accepts`) as one batch on the device; raises if the device
        cannot decode them (the caller prepares them on the CPU instead). ``record``: count the
        stage times in the metrics (not for the warm-up)."""
        import torch
        from torchcodec.decoders import decode_jpeg  # type: ignore[attr-defined]  # public, not in __all__

        started = time.perf_counter()
        decoded = decode_jpeg(list(images), mode="RGB", device=self._device)
        synchronise(self._device)
        done_decoding = time.perf_counter()
        rows = [self._prepared(pixels) for pixels in decoded]
        batch = torch.stack(rows)
        synchronise(self._device)
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
        # One axis at a time, rounded to bytes in between, in the order the CPU path's resize takes
        # for this image (resample.py, `vertical_first` in _resample.c: the image against the
        # crop): closer answers than one float pass over both axes.
        crop = self._spec.crop_size
        passes = [(height, resized_width), (resized_height, resized_width)]
        if crop < height and height - crop > (width - crop) * 2:
            passes = [(resized_height, width), (resized_height, resized_width)]
        for size in passes:
            image = self._interpolate(image, size).round_().clamp_(0, 255)
        return image[0, :, top : top + crop, left : left + crop] * self._scale + self._offset

    def _interpolate(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        import torch

        if tuple(image.shape[2:]) == size:
            return image
        return torch.nn.functional.interpolate(
            image, size=size, mode=self._spec.interpolation, antialias=True
        )


def synchronise(device: str | torch.device) -> None:
    """Wait for a CUDA device, so a stage's time is its work's and not its launch's."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def batch_on_device(
    prepared: list[npt.NDArray[np.float32]], decoded: DecodedBatch, buckets: tuple[int, ...]
) -> torch.Tensor:
    """The rows prepared on the CPU, then the device-decoded ones, then zero rows up to the batch
    bucket (buckets.py): one model input on the device."""
    import torch

    rows = decoded.tensor
    parts = [torch.from_numpy(np.stack(prepared)).to(rows.device)] if prepared else []
    parts.append(rows)
    count = len(prepared) + len(rows)
    missing = bucket_for(count, buckets) - count
    if missing:
        parts.append(rows.new_zeros((missing, *rows.shape[1:])))
    return torch.cat(parts)
