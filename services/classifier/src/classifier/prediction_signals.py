"""What the model answered, as metrics: the model-quality canary compares a canary's answers
with stable's through them (platform/slo/slos.yaml `quality`), and the drift alert compares
stable with itself a week earlier.

Observed once per answered image of user traffic: requests carrying GOLDEN_SET_HEADER (the
paired check's golden set, sent to canary and stable alike whatever their traffic weights) are
left out. The cost is an argmax over the request's images and two metric updates per image, 1-4 us
(docs/decisions.md, "The model-quality gate").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from classifier.artifact import ModelMetadata
from classifier.class_groups import groups_by_output
from classifier.metrics import ServiceMetrics

# Sent by classifier-quality-check with "1"; any client may send it to keep its requests out of
# the model-quality metrics (and only those).
GOLDEN_SET_HEADER = "x-classifier-golden-set"


class PredictionSignals:
    """Counts each image's top-1 answer by class group and observes its confidence."""

    def __init__(self, metadata: ModelMetadata, metrics: ServiceMetrics) -> None:
        model = {"name": metadata.name, "version": metadata.version}
        groups = groups_by_output(metadata.labels)
        # Every reachable group's series exists from the start, at 0, so the first answer in a
        # group counts in `increase()` like every later one.
        counters = {group: metrics.predictions.labels(**model, class_group=group) for group in set(groups)}
        self._counter_by_output = [counters[group] for group in groups]
        self._confidence = metrics.prediction_confidence.labels(**model)

    def observe(self, probabilities: npt.NDArray[np.float32]) -> None:
        """One row of class probabilities per image."""
        top = probabilities.argmax(axis=1)
        confidences = probabilities[np.arange(len(top)), top]
        for index, confidence in zip(top.tolist(), confidences.tolist(), strict=True):
            self._counter_by_output[index].inc()
            self._confidence.observe(confidence)
