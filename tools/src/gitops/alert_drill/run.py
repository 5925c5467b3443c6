"""`gitops-alert-drill`: run every case at once, each on its own Prometheus and Alertmanager,
and print the table (docs/readiness.md, Paging)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from gitops.alert_drill.cases import CASES, OUTAGE_LASTS, STATED_SECONDS
from gitops.alert_drill.compressed_time import SPEEDUP, compressed_rules, generated_rules
from gitops.alert_drill.exporters import healthy_history
from gitops.alert_drill.report import AlertDrillReport, first_page
from gitops.alert_drill.stack import Stack
from gitops.alert_drill.webhook import Exchange, describe, serving
from gitops.alertmanager_config import alertmanager_config, routed_receivers, with_webhooks
from gitops.drill_stack import wait_for
from gitops.durations import prometheus_duration_seconds
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import alert_variants

_STARTUP_SECONDS = 90.0


def _backfill(workdir: Path, address: str, rules: dict[str, Any]) -> Path:
    promtool = shutil.which("promtool")
    if promtool is None:
        raise RuntimeError("promtool not found: make system-packages installs it")
    (workdir / "history.om").write_text(healthy_history(address, rules, time.time()))
    blocks = workdir / "history"
    command = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(workdir / "history.om")]
    subprocess.run([*command, str(blocks)], check=True, capture_output=True)
    return blocks


def _watch(stacks: dict[str, Stack], exchange: Exchange, pager: str, report: AlertDrillReport) -> None:
    """Until every broken case has paged, or the slowest stated time (compressed) has passed."""
    broken_at = time.time()
    for case in CASES:
        if case.breaks is not None:
            case.breaks(stacks[case.name])
    broken = [case for case in CASES if case.breaks is not None]
    seen = {case.name: broken_at for case in broken if case.visible is None}
    sustained_at = time.monotonic() + prometheus_duration_seconds(OUTAGE_LASTS) / SPEEDUP
    deadline = max(time.monotonic() + max(STATED_SECONDS.values()) / SPEEDUP + 45, sustained_at + 5)
    while time.monotonic() < deadline:
        for case in broken:
            if case.name not in seen and case.visible is not None and case.visible(stacks[case.name]):
                seen[case.name] = time.time()
        for name, at in seen.items():
            report.pages[name] = first_page(exchange.received(name), pager, at)
        if report.sustained is None and time.monotonic() >= sustained_at:
            report.sustained = stacks["outage"].firing_pages()
        if len(seen) == len(STATED_SECONDS) and all(report.pages.values()) and report.sustained is not None:
            return
        time.sleep(0.25)


def run_alert_drill(root: Path = REPO_ROOT) -> AlertDrillReport:
    began = time.monotonic()
    config = alertmanager_config(root)
    rules = compressed_rules(generated_rules(root))
    exchange = Exchange()
    with tempfile.TemporaryDirectory(prefix="alert-drill-") as scratch, serving(exchange) as address:
        workdir = Path(scratch)
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        pager = routed_receivers(workdir / "alertmanager.yml", {"severity": "page", "service": "classifier"})[
            0
        ]
        report = AlertDrillReport(pager)
        history = _backfill(workdir, address, rules)
        stacks = {case.name: Stack(case.name, workdir / case.name, address, exchange) for case in CASES}
        try:
            for name, stack in stacks.items():
                stack.workdir.mkdir()
                stack.start(with_webhooks(config, f"http://{address}/{name}"), rules, history)
            for stack in stacks.values():
                wait_for(stack.ready, _STARTUP_SECONDS, f"{stack.name}'s Alertmanager and first scrapes")
                stack.load_rules()
            for stack in stacks.values():
                wait_for(stack.rules_loaded, _STARTUP_SECONDS, f"{stack.name}'s rules")
            time.sleep(2)  # a few evaluations of the healthy fleet first
            _watch(stacks, exchange, pager, report)
            report.pages["healthy"] = first_page(exchange.received("healthy"), pager, 0.0)
            known = set(alert_variants(root))
            for case in CASES:
                notes = exchange.received(case.name)
                alerts = [(note.receiver, alert) for note in notes for alert in note.payload["alerts"]]
                report.chat[case.name] = sorted({describe(a) for receiver, a in alerts if receiver != pager})
                unknown = {alert["labels"]["alertname"] for _, alert in alerts} - known
                if unknown:
                    report.unknown_alerts[case.name] = sorted(unknown)
        except Exception as error:
            logs = "\n".join(stack.logs() for stack in stacks.values())
            raise RuntimeError(f"the alert drill could not run: {error}\n{logs}") from error
        finally:
            for stack in stacks.values():
                stack.stop()
    report.seconds = time.monotonic() - began
    return report


def main() -> int:
    report = run_alert_drill()
    print(report.table())
    problems = report.problems()
    for problem in problems:
        print(f"FAILED: {problem}")
    print("every page in time, none for the healthy run" if not problems else "problems above")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
