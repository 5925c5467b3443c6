"""Fault injection for canary drills: extra latency and a fraction of 500s.

Off by default. It exists so a drill can prove that a bad release is aborted by the
canary analysis; a non-zero setting is logged loudly at start-up and exported as a metric.
"""

from __future__ import annotations

import asyncio
import random

from classifier.config import Settings
from classifier.errors import InjectedFault


class FaultInjector:
    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self._latency_s = settings.fault_latency_ms / 1000.0
        self._error_rate = settings.fault_error_rate
        self._rng = rng or random.Random()

    @property
    def enabled(self) -> bool:
        return self._latency_s > 0 or self._error_rate > 0

    async def apply(self) -> None:
        """Sleep the configured latency, then fail with the configured probability."""
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        if self._error_rate and self._rng.random() < self._error_rate:
            raise InjectedFault("injected fault (CLASSIFIER_FAULT_ERROR_RATE drill setting)")
