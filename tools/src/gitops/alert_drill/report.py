"""What reached the pager, how fast on a cluster, and what is wrong with that."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from gitops.alert_drill.cases import CASES, OUTAGE_LASTS, STATED_SECONDS
from gitops.alert_drill.compressed_time import SPEEDUP
from gitops.alert_drill.webhook import Notification, describe
from gitops.promtool_tests import RULES


@dataclass(frozen=True, slots=True)
class Page:
    alerts: list[str]  # "alertname (namespace)"
    receiver: str
    seconds: float  # drill seconds from the failure (as Prometheus can see it) to the page
    cluster_seconds: float  # the same on a cluster: Prometheus's part times SPEEDUP, the rest as is
    early: bool  # the alert started before the failure: it cannot be the failure's


@dataclass(slots=True)
class AlertDrillReport:
    pager: str
    pages: dict[str, Page | None] = field(default_factory=dict)
    chat: dict[str, list[str]] = field(default_factory=dict)
    unknown_alerts: dict[str, list[str]] = field(default_factory=dict)
    sustained: list[str] | None = None  # the pages firing once the outage has lasted OUTAGE_LASTS
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = []
        for case in CASES:
            page, stated = self.pages.get(case.name), STATED_SECONDS.get(case.name)
            if case.breaks is None:
                if page is not None:
                    found.append(f"{case.name}: the pager got {', '.join(page.alerts)} though nothing broke")
            elif page is None:
                found.append(f"{case.name}: no page reached the pager ({case.failure})")
            elif page.early:
                found.append(f"{case.name}: {', '.join(page.alerts)} started before the failure")
            elif stated is not None and page.cluster_seconds > stated:
                found.append(
                    f"{case.name}: the page would take {page.cluster_seconds:.0f} s on a cluster, "
                    f"docs/readiness.md states {stated} s"
                )
        if not self.sustained:
            found.append(
                f"outage: no page firing any more after {OUTAGE_LASTS} of it, every request still failing"
            )
        found += [f"{name}: alerts not in {RULES}: {alerts}" for name, alerts in self.unknown_alerts.items()]
        return found

    def table(self) -> str:
        lines = [
            "| failure | alert | receiver | seconds to delivery (drill) | on a cluster | stated |",
            "|---|---|---|---|---|---|",
        ]
        for case in CASES:
            page, stated = self.pages.get(case.name), STATED_SECONDS.get(case.name)
            limit = f"{stated / 60:g} min" if stated else "-"
            if page is None:
                lines.append(f"| {case.name}: {case.failure} | none | - | - | - | {limit} |")
            else:
                lines.append(
                    f"| {case.name}: {case.failure} | {', '.join(page.alerts)} | {page.receiver} "
                    f"| {page.seconds:.1f} | {page.cluster_seconds / 60:.1f} min | {limit} |"
                )
        chat = "; ".join(f"{name}: {', '.join(alerts)}" for name, alerts in self.chat.items() if alerts)
        lines.append(
            f"\nRule durations and scrape intervals divided by {SPEEDUP}, Alertmanager's timings as the "
            f"project's (a page waits its route's group_wait, 30 s); on a cluster = {SPEEDUP} x (alert "
            f"start - failure) + (delivery - alert start). Still paging after {OUTAGE_LASTS} of the outage: "
            f"{', '.join(self.sustained or []) or 'nothing'}. Chat got: {chat or 'nothing'}. "
            f"{self.seconds:.0f} s in all."
        )
        return "\n".join(lines)


def _started(alert: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()


def first_page(notifications: list[Notification], pager: str, seen: float) -> Page | None:
    """The first notification to the pager with a firing classifier page, timed from `seen`."""
    for note in notifications:
        firing = [
            alert
            for alert in note.payload["alerts"]
            if alert["status"] == "firing"
            and alert["labels"].get("severity") == "page"
            and alert["labels"].get("service") == "classifier"
        ]
        if note.receiver == pager and firing:
            started = min(_started(alert) for alert in firing)
            return Page(
                alerts=sorted({describe(alert) for alert in firing}),
                receiver=note.receiver,
                seconds=note.received - seen,
                cluster_seconds=SPEEDUP * (started - seen) + (note.received - started),
                early=started < seen - 1,
            )
    return None
