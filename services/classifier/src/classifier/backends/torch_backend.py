"""TorchScript on CUDA (fp16, channels_last) when a GPU is present, else on the CPU.

Loads the TorchScript module from the artifact, so timm is not needed at run time.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import torch

from classifier.artifact import ModelArtifact
from classifier.config import Device


class TorchBackend:
    name = "torch"

    def __init__(self, artifact: ModelArtifact, *, device: Device, threads: int) -> None:
        use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CLASSIFIER_DEVICE=cuda but no CUDA device is available")
        self._device = torch.device("cuda:0" if use_cuda else "cpu")
        self._dtype = torch.float16 if use_cuda else torch.float32
        self._memory_format = torch.channels_last if use_cuda else torch.contiguous_format
        if not use_cuda:
            torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            module = torch.jit.load(  # type: ignore[no-untyped-call]
                str(artifact.torchscript_path), map_location=self._device
            )
        module = module.to(dtype=self._dtype).eval()
        self._module = module.to(memory_format=self._memory_format) if use_cuda else module
        if use_cuda:
            torch.backends.cudnn.benchmark = True

    @property
    def device(self) -> str:
        return str(self._device)

    def predict(
        self, batch: npt.NDArray[np.float32] | torch.Tensor, *, alone: bool = False
    ) -> npt.NDArray[np.float32]:
        """Logits for a numpy batch, or for a tensor already on the device (device_decode.py)."""
        with torch.inference_mode():
            if isinstance(batch, torch.Tensor):
                inputs = batch.to(self._device)
            else:
                inputs = torch.from_numpy(batch).to(self._device, non_blocking=True)
            inputs = inputs.to(dtype=self._dtype, memory_format=self._memory_format)
            logits = self._module(inputs)
            result: npt.NDArray[np.float32] = logits.float().cpu().numpy()
            return result
