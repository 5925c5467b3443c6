"""Load for the canary drill: every user sends real photos to every drill target in turn.

Targets come from DRILL_TARGETS (comma-separated base URLs); `gitops-drill` sets it. The photos
are 360 distinct views of scikit-image's photos (classifier_modelbuild.photo_mix, a seed other
than the golden set's), each request a random one, so every target sees the same traffic mix and
the model-quality metrics compare like with like.
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, task

from classifier_modelbuild.photo_mix import photo_mix

TARGETS = [t for t in os.environ.get("DRILL_TARGETS", "").split(",") if t]
TRAFFIC_SEED = 1  # the golden set's is 7 (classifier_modelbuild.golden)


BODIES = [view.jpeg() for view in photo_mix(360, TRAFFIC_SEED)]


class DrillUser(HttpUser):
    wait_time = between(0.2, 0.4)
    host = TARGETS[0] if TARGETS else "http://127.0.0.1:8000"

    def on_start(self) -> None:
        self._targets = itertools.cycle(TARGETS)
        self._random = random.Random()

    @task
    def classify(self) -> None:
        target = next(self._targets)
        self.client.post(
            f"{target}/v1/classify",
            data=self._random.choice(BODIES),
            headers={"content-type": "image/jpeg"},
            name=target,
        )
