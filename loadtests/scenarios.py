"""The load-test scenarios: how many users, how fast they arrive, how long, and whether the
SLO gate applies (a stress test goes past saturation on purpose: it reports, it does not gate)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    users: int
    spawn_rate: float
    run_time: str
    gate: bool
    purpose: str


SCENARIOS = {
    "smoke": Scenario(2, 2, "20s", True, "a few users for a short while: does it work at all"),
    "baseline": Scenario(20, 5, "3m", True, "expected peak traffic for one pod: the SLO must hold"),
    "stress": Scenario(200, 20, "3m", False, "far past one pod's capacity: 429s, no 5xx, memory bounded"),
    "soak": Scenario(15, 5, "30m", True, "moderate load for a long time: leaks, drift, slow degradation"),
}
