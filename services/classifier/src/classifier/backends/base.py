"""What every backend offers: logits for a batch of preprocessed images."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


class InferenceBackend(Protocol):
    """Runs the model. ``predict`` is blocking and is called off the event loop."""

    @property
    def name(self) -> str:
        """Backend name for metrics and responses, e.g. ``onnxruntime``."""
        ...

    @property
    def device(self) -> str:
        """Where inference runs, e.g. ``cpu`` or ``cuda:0``."""
        ...

    def predict(self, batch: npt.NDArray[np.float32], *, alone: bool = False) -> npt.NDArray[np.float32]:
        """Map a ``[N, 3, H, W]`` float32 batch to ``[N, classes]`` float32 logits.

        ``alone``: no other model call runs now, so the call may use every core (the
        low-load case: lower latency), instead of its share (the loaded case: more images/s).
        """
        ...
