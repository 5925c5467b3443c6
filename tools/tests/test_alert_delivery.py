"""Proven end to end (issue #14): a real Prometheus with the generated rules and a real
Alertmanager with the project's routing, a local webhook standing in for the pager and the
chat. A total outage, pods that stop answering the scrape, pods that are gone and an aborted
rollout each page within the time docs/readiness.md states; the outage's page keeps firing for
as long as the outage lasts; a healthy fleet pages nobody. The alerts are keyed on their labels
(severity=page, service=classifier) and names read from the generated rule file. About 75 s; the
table is printed after the test run."""

from __future__ import annotations

import re

import pytest

from gitops.alert_drill.cases import CASES, OUTAGE_LASTS, STATED_SECONDS
from gitops.alert_drill.compressed_time import SPEEDUP, compress_promql, compressed_rules, generated_rules
from gitops.alert_drill.report import AlertDrillReport
from gitops.alert_drill.run import run_alert_drill
from gitops.paths import REPO_ROOT


@pytest.fixture(scope="module")
def report(tables: list[tuple[str, str]]) -> AlertDrillReport:
    result = run_alert_drill()
    tables.append(("alert delivery (`make alert-drill`: real Prometheus and Alertmanager):", result.table()))
    return result


def assert_paged_in_time(report: AlertDrillReport, case: str) -> None:
    page = report.pages.get(case)
    assert page is not None, f"{case}: no page reached the pager\n{report.table()}"
    assert page.receiver == report.pager
    assert not page.early, f"{case}: {page.alerts} started before the failure"
    assert page.cluster_seconds <= STATED_SECONDS[case], report.table()


def test_a_total_outage_pages(report: AlertDrillReport) -> None:
    """Every request 5xx: only 5xx series exist for the namespace's requests."""
    assert_paged_in_time(report, "outage")


def test_the_outage_page_keeps_firing_while_the_outage_lasts(report: AlertDrillReport) -> None:
    """Past the page conditions' 30m window no good request is left in it: an error ratio built from
    good requests alone has nothing to divide there, and the page would resolve mid-outage."""
    assert report.sustained, f"nothing paging after {OUTAGE_LASTS} of the outage\n{report.table()}"


def test_pods_that_stop_answering_the_scrape_page(report: AlertDrillReport) -> None:
    assert_paged_in_time(report, "silent")


def test_pods_that_are_gone_page(report: AlertDrillReport) -> None:
    """Pods, Service or ServiceMonitor gone: no target, and every series of the namespace vanishes."""
    assert_paged_in_time(report, "gone")


def test_an_aborted_rollout_pages(report: AlertDrillReport) -> None:
    """rollout_info as the controller exports it, relabelled as platform/argo-rollouts.yaml says."""
    assert_paged_in_time(report, "abort")


def test_a_healthy_fleet_pages_nobody(report: AlertDrillReport) -> None:
    assert report.pages.get("healthy") is None, report.table()
    assert report.chat.get("healthy") == [], report.table()


def test_every_delivered_alert_is_a_generated_one(report: AlertDrillReport) -> None:
    assert report.unknown_alerts == {}
    assert report.problems() == [], report.table()


def test_readiness_states_the_times_the_drill_checks() -> None:
    """docs/readiness.md's alerting row says how fast each failure pages, in the drill's numbers."""
    readiness = (REPO_ROOT / "docs/readiness.md").read_text()
    [row] = [line for line in readiness.splitlines() if line.startswith("| Paging |")]
    for case in CASES:
        if case.name in STATED_SECONDS:
            assert f"{case.name} ≤ {STATED_SECONDS[case.name] / 60:g} min" in row, case.name


@pytest.mark.parametrize(
    ("expr", "compressed"),
    [
        ("rate(x[5m])", "rate(x[10s])"),
        ("sum_over_time(x[1h30m]) offset 3d", "sum_over_time(x[180s]) offset 8640s"),
        ("max_over_time(rate(x[5m])[1h:1m])", "max_over_time(rate(x[10s])[120s:2s])"),
        ('x{code=~"[45].."} offset -1m', 'x{code=~"[45].."} offset -2s'),
        ('x{route=~"/v2/\\\\{name\\\\}"}[30s]', 'x{route=~"/v2/\\\\{name\\\\}"}[1s]'),
    ],
)
def test_durations_in_promql_are_divided_by_the_speedup(expr: str, compressed: str) -> None:
    assert SPEEDUP == 30
    assert compress_promql(expr) == compressed


def test_every_duration_of_the_generated_rules_is_compressed() -> None:
    """Nothing of cluster time is left: every window, `for` and interval is a multiple of a second
    over SPEEDUP of the original, and no rule keeps a minute, hour or day unit."""
    rules = compressed_rules(generated_rules())
    for group in rules["groups"]:
        assert re.fullmatch(r"\d+(ms|s)", group["interval"])
        for rule in group["rules"]:
            assert not re.search(r"\[\d+[mhdwy]", rule["expr"]), rule["expr"]
            assert re.fullmatch(r"\d+(ms|s)", rule.get("for", "0s"))
