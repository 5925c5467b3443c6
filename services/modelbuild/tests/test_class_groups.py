"""The service's canonical ImageNet order is the one the build writes into metadata.json."""

from __future__ import annotations

from classifier.imagenet_labels import IMAGENET_LABELS
from classifier_modelbuild.cli import imagenet_labels


def test_the_service_carries_the_builds_label_order() -> None:
    assert imagenet_labels() == IMAGENET_LABELS
