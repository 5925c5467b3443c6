"""`gitops-drill` (`make drill`): prove the canary analysis stops a bad release.

Starts a stable and four canary service processes (healthy, 5% injected errors, +400 ms
injected latency, and one that gets no traffic), a real Prometheus scraping them with their
pod-template-hash labels and loaded with the generated recording rules, and locust load.
Then it renders the AnalysisTemplates from the dev environment, runs their queries through
Prometheus's HTTP API for each canary's hash, evaluates their conditions as Argo Rollouts
does, and checks the generated burn-rate alert's expression. Bounded to about two minutes;
every process it starts is stopped, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops.analysis_eval import phase, render_args
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES
from gitops.render import render

LOAD_SECONDS = 45
ARTIFACT = REPO_ROOT / "artifacts" / "efficientnet-lite0" / "1"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    hash: str
    faults: dict[str, str]
    loaded: bool = True

    @property
    def namespace(self) -> str:
        return f"drill-{self.name}"


TARGETS = (
    Target("stable", "stable0001", {}),
    Target("healthy", "healthy0001", {}),
    Target("errors", "errors00001", {"CLASSIFIER_FAULT_ERROR_RATE": "0.05"}),
    Target("slow", "slow000001", {"CLASSIFIER_FAULT_LATENCY_MS": "400"}),
    Target("idle", "idle000001", {}, loaded=False),
)
# What the analysis must conclude for each canary (metric -> phase).
EXPECTED = {
    "healthy": {"error-rate": "Successful", "latency-p99": "Successful"},
    "errors": {"error-rate": "Failed"},
    "slow": {"latency-p99": "Failed"},
    "idle": {"error-rate": "Inconclusive", "latency-p99": "Inconclusive"},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if predicate():
                return
        time.sleep(0.25)
    raise TimeoutError(f"gave up waiting for {what}")


class Processes:
    """Starts processes and stops every one of them on exit."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, env=os.environ | (env or {}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.terminate()
        for process in self._started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def running_drill(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Services and Prometheus up; yields (Prometheus URL, target name -> service URL)."""
    processes = Processes()
    try:
        urls = {}
        for target in TARGETS:
            port = _free_port()
            urls[target.name] = f"http://127.0.0.1:{port}"
            env = {
                "CLASSIFIER_MODEL_DIR": str(ARTIFACT),
                "CLASSIFIER_PORT": str(port),
                "CLASSIFIER_INFERENCE_WORKERS": "1",
                "CLASSIFIER_LOG_LEVEL": "warning",
            } | target.faults
            processes.start([sys.executable, "-m", "classifier"], env)
        spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
        for group in spec["groups"]:
            # Evaluate as often as the drill scrapes: at the shipped interval the last
            # recorded ratio could predate most of a 45 s load.
            group["interval"] = "1s"
        (workdir / "rules.yaml").write_text(yaml.safe_dump(spec))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yaml"],
            "scrape_configs": [
                {
                    "job_name": "classifier",
                    "static_configs": [
                        {
                            "targets": [urls[t.name].removeprefix("http://")],
                            "labels": {
                                "namespace": t.namespace,
                                "rollouts_pod_template_hash": t.hash,
                                "pod": t.name,
                            },
                        }
                        for t in TARGETS
                    ],
                }
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        prometheus_port = _free_port()
        prometheus = f"http://127.0.0.1:{prometheus_port}"
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus not found: install Debian's prometheus package (.ci/run does)")
        processes.start(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"]
        )  # fmt: skip
        for name, url in urls.items():
            _wait(lambda url=url: _get_json(f"{url}/v2/health/ready")["ready"], 90, f"{name} to be ready")
        _wait(
            lambda: len(query(prometheus, "up == 1")) == len(TARGETS),
            60, "Prometheus to scrape every target",
        )  # fmt: skip
        yield prometheus, urls
    finally:
        processes.stop_all()


def run_load(urls: dict[str, str], seconds: int) -> None:
    loaded = ",".join(urls[t.name] for t in TARGETS if t.loaded)
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadtests" / "drill_locustfile.py"),
         "--headless", "--users", "8", "--spawn-rate", "8", "--run-time", f"{seconds}s", "--only-summary"],
        env=os.environ | {"DRILL_TARGETS": loaded}, capture_output=True, check=False, timeout=seconds + 60,
    )  # fmt: skip  # exit 1 is expected: the erroring canary's 500s are failures to locust


def query(prometheus: str, promql: str) -> list[float]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    result = _get_json(url)["data"]["result"]
    return [float(item["value"][1]) for item in result]


def analysis_templates() -> list[dict[str, Any]]:
    return [m for m in render(REPO_ROOT / "environments" / "dev") if m["kind"] == "AnalysisTemplate"]


def evaluate_canaries(prometheus: str) -> dict[str, dict[str, tuple[str, list[float]]]]:
    """canary -> metric -> (phase, measured values), as Argo Rollouts would conclude."""
    verdicts: dict[str, dict[str, tuple[str, list[float]]]] = {}
    for target in TARGETS[1:]:
        args = {"namespace": target.namespace, "canary-hash": target.hash, "prometheus": prometheus}
        verdicts[target.name] = {}
        for template in analysis_templates():
            for metric in template["spec"]["metrics"]:
                values = query(prometheus, render_args(metric["provider"]["prometheus"]["query"], args))
                verdicts[target.name][metric["name"]] = (phase(metric, values), values)
    return verdicts


def burning_namespaces(prometheus: str, alert: str = "ClassifierAvailabilityBudgetBurn") -> set[str]:
    spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
    expr = next(r["expr"] for g in spec["groups"] for r in g["rules"] if r.get("alert") == alert)
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    return {item["metric"]["namespace"] for item in _get_json(url)["data"]["result"]}


@dataclass(frozen=True, slots=True)
class DrillReport:
    verdicts: dict[str, dict[str, tuple[str, list[float]]]]
    burning: set[str]
    seconds: float

    def problems(self) -> list[str]:
        found = []
        for canary, expected in EXPECTED.items():
            for metric, wanted in expected.items():
                got = self.verdicts[canary][metric][0]
                if got != wanted:
                    found.append(f"{canary} canary: {metric} is {got}, expected {wanted}")
        if "drill-errors" not in self.burning:
            found.append("the availability burn-rate alert would not fire for the erroring canary")
        if self.burning & {"drill-healthy", "drill-stable", "drill-slow"}:
            found.append(f"the burn-rate alert would fire for healthy traffic: {sorted(self.burning)}")
        return found

    def table(self) -> str:
        lines = ["| canary | metric | measured | verdict |", "|---|---|---|---|"]
        for canary, metrics in self.verdicts.items():
            for metric, (verdict, values) in metrics.items():
                shown = ", ".join("NaN" if math.isnan(v) else f"{v:.4g}" for v in values) or "(no data)"
                lines.append(f"| {canary} | {metric} | {shown} | {verdict} |")
        lines.append(f"\nAvailability burn-rate alert expression true for: {sorted(self.burning) or 'none'}")
        return "\n".join(lines)


def run_drill(load_seconds: int = LOAD_SECONDS) -> DrillReport:
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="drill-") as scratch,
        running_drill(Path(scratch)) as (prometheus, urls),
    ):
        run_load(urls, load_seconds)
        time.sleep(2)  # the last scrape and rule evaluation
        return DrillReport(
            evaluate_canaries(prometheus), burning_namespaces(prometheus), time.monotonic() - started
        )


def main() -> int:
    if not (ARTIFACT / "metadata.json").is_file():
        print("gitops-drill: build the model first (`make model`)", file=sys.stderr)
        return 2
    report = run_drill()
    print(report.table())
    problems = report.problems()
    for problem in problems:
        print(f"FAILED: {problem}")
    print(
        f"drill finished in {report.seconds:.0f} s: {'all as expected' if not problems else 'problems above'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
