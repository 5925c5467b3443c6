"""Load for the canary drill: every user sends real photos to every drill target in turn.

Targets come from DRILL_TARGETS (comma-separated base URLs); `gitops-drill` sets it.
"""

from __future__ import annotations

import itertools
import os

from locust import HttpUser, between, task

from classifier_testkit import photos

TARGETS = [t for t in os.environ.get("DRILL_TARGETS", "").split(",") if t]
BODIES = [photos.encode(name) for name in ("coffee", "chelsea", "rocket", "astronaut")]


class DrillUser(HttpUser):
    wait_time = between(0.2, 0.4)
    host = TARGETS[0] if TARGETS else "http://127.0.0.1:8000"

    def on_start(self) -> None:
        self._targets = itertools.cycle(TARGETS)
        self._bodies = itertools.cycle(BODIES)

    @task
    def classify(self) -> None:
        target = next(self._targets)
        self.client.post(
            f"{target}/v1/classify",
            data=next(self._bodies),
            headers={"content-type": "image/jpeg"},
            name=target,
        )
