"""Answers grouped by neighbouring ImageNet indices, placed by label, never by output index."""

from __future__ import annotations

import random
from collections import Counter

from classifier.class_groups import CLASS_GROUPS, OTHER_GROUP, class_group, group_names, groups_by_output
from classifier.imagenet_labels import IMAGENET_LABELS


def test_sixty_four_groups_of_neighbouring_indices() -> None:
    sizes = Counter(class_group(label) for label in IMAGENET_LABELS)
    assert sorted(sizes) == group_names()[:CLASS_GROUPS]
    assert set(sizes.values()) == {15, 16}
    groups = [class_group(label) for label in IMAGENET_LABELS]
    assert groups == sorted(groups), "each group is a run of neighbouring indices"


def test_fine_grained_neighbours_share_a_group_and_distant_classes_do_not() -> None:
    assert class_group("Egyptian cat") == class_group("Persian cat") == class_group("tiger cat")
    # Fixed-width groups cut some families at a boundary: tabby (281) is one group earlier.
    assert class_group("tabby") != class_group("tiger cat")
    assert class_group("espresso") != class_group("tabby")
    assert len(group_names()) == CLASS_GROUPS + 1


def test_a_label_outside_imagenet_is_other() -> None:
    assert class_group("not an imagenet class") == OTHER_GROUP


def test_a_shuffled_label_file_moves_answers_across_groups() -> None:
    """The same output index answers in another group: what the canary's live metric sees."""
    shuffled = list(IMAGENET_LABELS)
    random.Random(0).shuffle(shuffled)
    healthy, broken = groups_by_output(IMAGENET_LABELS), groups_by_output(shuffled)
    moved = sum(a != b for a, b in zip(healthy, broken, strict=True)) / len(healthy)
    assert moved > 0.9
