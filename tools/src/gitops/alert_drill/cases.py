"""The failures the drill breaks the fleet with, one per case, and how fast each must page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gitops.alert_drill.exporters import BROKEN
from gitops.alert_drill.stack import Stack

# How fast each failure reaches the pager on a cluster (docs/readiness.md), rounded up from the
# worst case: the failing scrape (15 s; 30 s for the controller) and the rate's second sample,
# rule evaluations (30 s each, recording then alerting), the rule's `for` (to the next evaluation)
# and the page route's group_wait (30 s): 4.4 min for the outage (its [1h] window crosses 14.4x
# budget after 52 s), 6.75 min for silence (`for: 5m`), 3 min for an abort (`for: 1m`).
STATED_SECONDS = {"outage": 300, "silent": 480, "gone": 480, "abort": 240}
# How long the outage lasts before its page must still be firing: past the page conditions'
# 30m window, so no good request is left in it. A ratio computed from good requests alone
# (1 - good/total) has nothing left to divide there and resolves the page mid-outage (issue #14).
OUTAGE_LASTS = "32m"


def _outage(stack: Stack) -> None:
    for pod in stack.pods:
        if pod.namespace == BROKEN:
            pod.restart_failing()


def _silent(stack: Stack) -> None:
    for pod in stack.pods:
        if pod.namespace == BROKEN:
            pod.answering = False


def _gone(stack: Stack) -> None:
    stack.scraped = [pod for pod in stack.pods if pod.namespace != BROKEN]
    stack.write_targets()


def _abort(stack: Stack) -> None:
    stack.controller.phases[BROKEN] = "Abort"


def _targets_dropped(stack: Stack) -> bool:
    return not stack.scrapes_broken_namespace()


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    failure: str
    breaks: Callable[[Stack], None] | None  # None: the healthy run
    # When Prometheus can first see the failure, if not at once: the page is timed from then.
    visible: Callable[[Stack], bool] | None = None


CASES = (
    Case("outage", "every prod request answered 5xx (pods restarted: only 5xx series)", _outage),
    Case("silent", "prod pods stop answering the scrape (up == 0)", _silent),
    # Timed from when Prometheus's discovery drops the pods' targets.
    Case("gone", "prod pods gone: their targets and every series vanish", _gone, _targets_dropped),
    Case("abort", 'prod Rollout aborted: rollout_info{phase="Abort"}, namespace relabelled', _abort),
    Case("healthy", "nothing breaks", None),
)
