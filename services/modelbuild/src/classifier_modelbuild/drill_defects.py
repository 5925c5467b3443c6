"""Drill-only defects: a wrong model that loads, answers fast and answers 200.

A canary gate must catch a wrong model, not only a slow or failing one; artifacts with one of
these defects prove it does. Each is a mistake a real build could make. A defective artifact
says so twice: its directory (``drill-<defect>``) and its metadata's ``drill_defect``, which the
service refuses unless ``CLASSIFIER_ALLOW_DRILL_DEFECTS`` is set. It keeps the healthy model's
name and version, as a release with such a mistake would: the paired model-quality check
(classifier.quality_check) holds it to the same model's floors. Only an explicit
``classifier-build-model --drill-defect`` (``make drill-models``) makes one.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Literal, get_args

import torch

from classifier.artifact import ModelMetadata

DrillDefect = Literal["shuffled-labels", "swapped-channels", "wrong-normalisation", "wrong-crop"]
DRILL_DEFECTS: tuple[DrillDefect, ...] = get_args(DrillDefect)
# The one defect in the exported graph; the others are in metadata.json only.
MODEL_DEFECTS: frozenset[DrillDefect] = frozenset({"swapped-channels"})
# Fixed, so every build of shuffled-labels has the same (wrong) labels.
LABEL_SHUFFLE_SEED = 20240601


class UnknownDrillDefect(ValueError):
    """A defect name the build does not know."""


def drill_defect(name: str) -> DrillDefect:
    """``name`` as a known defect; UnknownDrillDefect otherwise."""
    for defect in DRILL_DEFECTS:
        if defect == name:
            return defect
    raise UnknownDrillDefect(f"unknown drill defect {name!r}: use one of {', '.join(DRILL_DEFECTS)}")


def drill_version(defect: DrillDefect) -> str:
    """The directory of a drill artifact, beside the healthy versions."""
    return f"drill-{defect}"


class _SwappedChannels(torch.nn.Module):
    """The model fed BGR where it expects RGB."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flip(1))  # type: ignore[no-any-return]


def with_defect_in_model(model: torch.nn.Module, defect: DrillDefect) -> torch.nn.Module:
    """The model to export: wrapped for a graph defect, else unchanged."""
    if defect == "swapped-channels":
        return _SwappedChannels(model).eval()
    return model


def with_defect_in_metadata(metadata: ModelMetadata, defect: DrillDefect) -> ModelMetadata:
    """Healthy metadata turned into the drill artifact's: marked and (but for a graph defect)
    wrong in one place; the model's name and version stay."""
    pre = metadata.preprocessing
    marked = dataclasses.replace(metadata, drill_defect=defect)
    if defect == "shuffled-labels":
        return dataclasses.replace(marked, labels=_derange(metadata.labels))
    if defect == "wrong-normalisation":
        # Inputs in [0, 1] instead of the [-1, 1] the weights were trained on.
        return dataclasses.replace(
            marked, preprocessing=dataclasses.replace(pre, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        )
    if defect == "wrong-crop":
        # A 2x zoom: the centre crop keeps a quarter of the usual area; the input size is unchanged.
        return dataclasses.replace(
            marked, preprocessing=dataclasses.replace(pre, resize_shorter_side=2 * pre.crop_size)
        )
    return marked


def _derange(labels: tuple[str, ...]) -> tuple[str, ...]:
    """A seeded shuffle in which no label keeps its index: one cycle through a random order."""
    order = list(range(len(labels)))
    random.Random(LABEL_SHUFFLE_SEED).shuffle(order)
    moved = list(labels)
    for position, index in enumerate(order):
        moved[order[(position + 1) % len(order)]] = labels[index]
    return tuple(moved)
