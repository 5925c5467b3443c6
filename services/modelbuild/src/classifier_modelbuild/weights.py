"""Load the PyPI package's state dict (lukemelas naming) into timm's TF-padding model."""

from __future__ import annotations

import timm
import torch

from classifier_modelbuild.variants import Variant


class WeightMappingError(RuntimeError):
    """The package's tensors do not line up with timm's parameters."""


def build_torch_model(variant: Variant) -> torch.nn.Module:
    """Return the timm model with the package weights, in eval mode on the CPU."""
    model = timm.create_model(variant.timm_name, pretrained=False, num_classes=1000)
    source = torch.load(variant.weights_path(), map_location="cpu", weights_only=True)
    source_tensors = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target_keys = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if len(source_tensors) != len(target_keys):
        raise WeightMappingError(
            f"{variant.key}: {len(source_tensors)} tensors in the package, "
            f"{len(target_keys)} in {variant.timm_name}"
        )
    mapped = {}
    for (source_key, tensor), target_key in zip(source_tensors, target_keys, strict=True):
        expected = model.state_dict()[target_key].shape
        if tensor.shape != expected:
            raise WeightMappingError(
                f"{source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(expected)}"
            )
        mapped[target_key] = tensor
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    if unexpected or any(not key.endswith("num_batches_tracked") for key in missing):
        raise WeightMappingError(f"missing {missing}, unexpected {unexpected}")
    return model.eval()
