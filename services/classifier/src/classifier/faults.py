"""Fault injection for canary drills: extra latency and a fraction of 500s.

Off by default. It exists so a drill can prove that a bad release is aborted by the
canary analysis; a non-zero setting is logged loudly at start-up and exported as a metric.

Errors are spread evenly rather than drawn at random: with rate 0.05 exactly one request in
twenty fails, starting with the first. A drill's measurement window holds a few dozen
requests per canary, and a random draw that small lands below a threshold often enough to make
drills flaky; evenly spread, any twenty requests in a row hold one error.
"""

from __future__ import annotations

import asyncio
import math

from classifier.config import Settings
from classifier.errors import InjectedFault


class FaultInjector:
    def __init__(self, settings: Settings) -> None:
        self._latency_s = settings.fault_latency_ms / 1000.0
        self._error_rate = settings.fault_error_rate
        self._requests = 0

    @property
    def enabled(self) -> bool:
        return self._latency_s > 0 or self._error_rate > 0

    def _next_request_fails(self) -> bool:
        """True for requests 0, 1/rate, 2/rate, ...: exactly `rate` of them, evenly spaced.

        Runs on the event loop only, so the counter needs no lock.
        """
        seen = self._requests
        self._requests += 1
        return math.floor(seen * self._error_rate) != math.floor((seen - 1) * self._error_rate)

    async def apply(self) -> None:
        """Sleep the configured latency, then fail the configured share of requests."""
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        if self._error_rate and self._next_request_fails():
            raise InjectedFault("injected fault (CLASSIFIER_FAULT_ERROR_RATE drill setting)")
