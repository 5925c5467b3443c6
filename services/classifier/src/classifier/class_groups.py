"""Answers grouped into a few dozen classes of neighbouring ImageNet indices, for the
model-quality metrics (`classifier_predictions_total{class_group}`).

ImageNet's canonical order follows the WordNet hierarchy closely: indices 151-268 are dog
breeds, 0-397 animals, 398-999 objects. A group of 15-16 neighbouring indices keeps most
fine-grained confusions (one terrier for another, the kind a better model corrects) inside one
group, while a label file out of order, a colour or crop defect moves answers across groups.
64 groups bound the label's values per pod (65 with `other`) and, at a few hundred predictions
per canary analysis window, leave several per group for the groups traffic actually hits.

The group is that of the label the service answers with, placed in the canonical order the
service carries (`classifier.imagenet_labels`), never by the model's output index: a shuffled
label file changes the label, not the index.
"""

from __future__ import annotations

from collections.abc import Sequence

from classifier.imagenet_labels import IMAGENET_LABELS

CLASS_GROUPS = 64
OTHER_GROUP = "other"  # a label outside ImageNet-1k (a model with other classes)
_CANONICAL_INDEX = {label: index for index, label in enumerate(IMAGENET_LABELS)}


def class_group(label: str) -> str:
    """The group of an answered label: "00" to "63", or "other"."""
    index = _CANONICAL_INDEX.get(label)
    if index is None:
        return OTHER_GROUP
    return f"{index * CLASS_GROUPS // len(IMAGENET_LABELS):02d}"


def group_names() -> list[str]:
    """Every value the label can take, in order."""
    return [f"{group:02d}" for group in range(CLASS_GROUPS)] + [OTHER_GROUP]


def groups_by_output(labels: Sequence[str]) -> list[str]:
    """For each output index of a model whose label file is `labels`, the group it answers in."""
    return [class_group(label) for label in labels]
