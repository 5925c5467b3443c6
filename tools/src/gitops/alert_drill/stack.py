"""One case's real Prometheus (on the backfilled history, with the compressed rules) and real
Alertmanager (the project's routing, receivers pointed at the webhook), and the fleet they watch."""

from __future__ import annotations

import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from classifier_testkit.ports import free_port
from gitops.alert_drill.compressed_time import OPERATOR_INTERVAL, compress
from gitops.alert_drill.exporters import (
    BROKEN,
    CONTROLLER_TARGET_LABELS,
    ClassifierPod,
    RolloutsController,
    classifier_scrape_interval,
    fleet,
    rollouts_metric_relabelings,
)
from gitops.alert_drill.webhook import Exchange, describe
from gitops.drill_stack import (
    alertmanager_command,
    get_json,
    prometheus_command,
    series,
    stop_process,
    write_file_sd,
)


class Stack:
    """A Prometheus and an Alertmanager for one case, and the fleet they watch."""

    def __init__(self, name: str, workdir: Path, address: str, exchange: Exchange) -> None:
        self.name, self.workdir, self.address = name, workdir, address
        self.pods = fleet()
        self.controller = RolloutsController()
        self.scraped = list(self.pods)
        self.prometheus = self.alertmanager = ""
        self._processes: list[subprocess.Popen[bytes]] = []
        for pod in self.pods:
            exchange.targets[self._path(pod)] = pod
        exchange.targets[f"/{name}/argo-rollouts/metrics"] = self.controller

    def _path(self, pod: ClassifierPod) -> str:
        return f"/{self.name}/{pod.namespace}/{pod.name}/metrics"

    def write_targets(self) -> None:
        """The pods Prometheus discovers (a file it watches), with the operator's target labels."""
        groups = [
            {
                "targets": [self.address],
                "labels": {k: v for k, v in pod.labels(self.address).items() if k not in {"job", "instance"}}
                | {"__metrics_path__": self._path(pod)},
            }
            for pod in self.scraped
        ]
        write_file_sd(self.workdir / "targets.json", groups)

    def _prometheus_config(self, with_rules: bool) -> dict[str, Any]:
        classifier = compress(classifier_scrape_interval())
        controller = compress(OPERATOR_INTERVAL)
        return {
            "global": {"evaluation_interval": compress(OPERATOR_INTERVAL)},
            "rule_files": ["rules.yaml"] if with_rules else [],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [self.alertmanager]}]}]},
            "scrape_configs": [
                {
                    "job_name": "classifier",
                    "scrape_interval": classifier,
                    "scrape_timeout": classifier,
                    "file_sd_configs": [
                        {"files": [str(self.workdir / "targets.json")], "refresh_interval": "1s"}
                    ],
                },
                {
                    "job_name": "serviceMonitor/argo-rollouts/argo-rollouts/0",
                    "scrape_interval": controller,
                    "scrape_timeout": controller,
                    "static_configs": [
                        {
                            "targets": [self.address],
                            "labels": CONTROLLER_TARGET_LABELS
                            | {"__metrics_path__": f"/{self.name}/argo-rollouts/metrics"},
                        }
                    ],
                    "metric_relabel_configs": rollouts_metric_relabelings(),
                },
            ],
        }

    def start(self, alertmanager_config: dict[str, Any], rules: dict[str, Any], history: Path) -> None:
        """Alertmanager, and Prometheus on the backfilled history, scraping but without rules yet."""
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config))
        self.alertmanager = f"127.0.0.1:{free_port()}"
        command = alertmanager_command(
            self.workdir / "alertmanager.yml", self.workdir / "alertmanager", self.alertmanager
        )
        self._start(command, "alertmanager.log")
        (self.workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
        self.write_targets()
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self._prometheus_config(False)))
        shutil.copytree(history, self.workdir / "tsdb")
        address = f"127.0.0.1:{free_port()}"
        self.prometheus = f"http://{address}"
        command = prometheus_command(self.workdir / "prometheus.yml", self.workdir / "tsdb", address)
        self._start(command, "prometheus.log")

    def _start(self, command: list[str], log: str) -> None:
        with (self.workdir / log).open("wb") as output:
            self._processes.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT))

    def ready(self) -> bool:
        """Alertmanager answers and Prometheus has scraped every target."""
        with urllib.request.urlopen(f"http://{self.alertmanager}/-/ready", timeout=5) as answer:
            if answer.status != 200:
                return False
        return len(series(self.prometheus, "up == 1")) == len(self.pods) + 1

    def load_rules(self) -> None:
        """Rules start once every target has been scraped: a `for` of seconds must not run out
        while the first scrapes (not compressed) are on their way."""
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self._prometheus_config(True)))
        self._processes[-1].send_signal(signal.SIGHUP)

    def rules_loaded(self) -> bool:
        return bool(get_json(f"{self.prometheus}/api/v1/rules", timeout=5)["data"]["groups"])

    def firing_pages(self) -> list[str]:
        """The classifier pages Prometheus has firing now."""
        firing = series(self.prometheus, 'ALERTS{alertstate="firing",severity="page",service="classifier"}')
        return sorted({describe({"labels": alert["metric"]}) for alert in firing})

    def scrapes_broken_namespace(self) -> bool:
        answer = get_json(f"{self.prometheus}/api/v1/targets?state=active", timeout=5)
        return any(target["labels"].get("namespace") == BROKEN for target in answer["data"]["activeTargets"])

    def stop(self) -> None:
        for process in self._processes:
            stop_process(process)

    def logs(self) -> str:
        logs = (self.workdir / name for name in ("prometheus.log", "alertmanager.log"))
        return "\n".join(
            f"--- {self.name} {log.name}:\n{log.read_text()[-1500:]}" for log in logs if log.exists()
        )
