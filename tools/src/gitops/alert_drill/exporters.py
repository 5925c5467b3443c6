"""What the drill's Prometheus scrapes: classifier pods whose requests go through the service's
own metrics layer, and the Argo Rollouts controller's rollout_info, labelled as
prometheus-operator labels them."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from classifier.api.observability import ObservabilityMiddleware
from classifier.metrics import ServiceMetrics
from gitops.alert_drill.compressed_time import SPEEDUP
from gitops.argocd_sources import helm_values
from gitops.delivery import environment_objects
from gitops.durations import prometheus_duration_seconds
from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.paths import namespace as namespace_of

# Healthy traffic before the drill starts (cluster time: 75 min), so that a case meets the [1h]
# window full, as on a cluster, rather than holding a few seconds.
HISTORY_SECONDS = 150.0

ROLLOUTS_VALUES = Path("platform/argo-rollouts.yaml")
# The fleet every case starts from: two pods per environment, and the controller's Rollouts.
NAMESPACES = tuple(namespace_of(environment) for environment in ENVIRONMENTS)
BROKEN = namespace_of("prod")
POD_HASH = "7f9c6d8b5"
ROUTE = "/v1/classify"
REQUESTS_PER_SECOND = 20.0  # per pod; the SLIs are ratios, so only the shape matters
CLIENT_ERROR_EVERY = 100  # one request in a hundred is a 400 (a bad image): no SLO error
# The target labels prometheus-operator v0.83.0 gives the Argo Rollouts chart's metrics endpoint
# (Service argo-rollouts-metrics, port `metrics`, container argo-rollouts; pkg/prometheus/promcfg.go
# generateServiceMonitorConfig). Static labels stand in for its relabel_configs over
# kubernetes_sd's __meta_kubernetes_* labels; instance stays the scraped address, as there.
CONTROLLER_TARGET_LABELS = {
    "namespace": "argo-rollouts",
    "service": "argo-rollouts-metrics",
    "job": "argo-rollouts-metrics",
    "endpoint": "metrics",
    "pod": "argo-rollouts-6d5b8f9c47-q7x2m",
    "container": "argo-rollouts",
}


class ClassifierPod:
    """A classifier pod's /metrics: requests recorded by the service's own HTTP metrics layer
    (classifier.api.observability) into the service's registry, as steady traffic would."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        self.failing = False  # every request answered 500
        self.answering = True  # /metrics answers at all
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self.metrics = ServiceMetrics()
        self.metrics.model_loaded.set(1)
        self.metrics.queue_capacity.set(64)
        self._middleware = ObservabilityMiddleware(self._answer, self.metrics)
        self._served = 0
        self._due = 0.0
        self._last = time.monotonic()

    def labels(self, address: str) -> dict[str, str]:
        """What prometheus-operator gives a pod scraped through the classifier ServiceMonitor:
        job is the Service's name, the pod-template hash a podTargetLabel."""
        return {
            "job": "classifier",
            "instance": address,
            "namespace": self.namespace,
            "service": "classifier",
            "endpoint": "metrics",
            "pod": self.name,
            "container": "classifier",
            "rollouts_pod_template_hash": POD_HASH,
        }

    def restart_failing(self) -> None:
        """The container restarts (counters from zero) and answers every request 500: only 5xx
        series exist from now on."""
        with self._lock:
            self._start()
            self.failing = True

    def serve(self, requests: int) -> bytes:
        asyncio.run(self._requests(requests))
        return generate_latest(self.metrics.registry)

    def scrape(self) -> tuple[int, bytes]:
        with self._lock:
            if not self.answering:
                return 503, b"unavailable\n"
            now = time.monotonic()
            self._due += (now - self._last) * REQUESTS_PER_SECOND
            self._last = now
            due = int(self._due)
            self._due -= due
            return 200, self.serve(due)

    async def _requests(self, count: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            pass

        for _ in range(count):
            scope = {"type": "http", "method": "POST", "path": ROUTE, "path_template": ROUTE, "headers": []}
            await self._middleware(scope, receive, send)

    async def _answer(self, scope: Any, receive: Any, send: Any) -> None:
        """The application behind the metrics layer: 500 when failing, a 400 one request in a
        hundred, else 200."""
        self._served += 1
        status = 500 if self.failing else 400 if self._served % CLIENT_ERROR_EVERY == 0 else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class RolloutsController:
    """The Argo Rollouts controller's rollout_info, one series per Rollout as v1.8.3 exports it:
    labels from controller/metrics/prommetrics.go, the phase from rollouts.go calculatePhase
    (Progressing, Paused, Completed, Abort, Error, Timeout, InvalidSpec); dev has no traffic router."""

    def __init__(self) -> None:
        self.phases = dict.fromkeys(NAMESPACES, "Completed")

    def scrape(self) -> tuple[int, bytes]:
        lines = ["# HELP rollout_info Information about rollout.", "# TYPE rollout_info gauge"]
        for namespace, phase in sorted(self.phases.items()):
            router = "" if namespace == "classifier-dev" else "Nginx"
            lines.append(
                f'rollout_info{{name="classifier",namespace="{namespace}",phase="{phase}",'
                f'strategy="canary",traffic_router="{router}"}} 1'
            )
        lines += [
            "# HELP argo_rollouts_controller_info Running Argo-rollouts version",
            "# TYPE argo_rollouts_controller_info gauge",
            'argo_rollouts_controller_info{version="v1.8.3"} 1',
        ]
        return 200, ("\n".join(lines) + "\n").encode()


def fleet() -> list[ClassifierPod]:
    return [
        ClassifierPod(f"classifier-{POD_HASH}-{suffix}", namespace)
        for namespace in NAMESPACES
        for suffix in ("k2x9w", "p4m7q")
    ]


def healthy_history(address: str, rules: dict[str, Any], end: float) -> str:
    """HISTORY_SECONDS of the fleet's healthy traffic up to `end`, as OpenMetrics for promtool: the
    series the rules read, with every label the scrape gives them. Counters and histograms grow
    by what the service's registry counts per request (measured over a hundred requests) times
    REQUESTS_PER_SECOND; gauges keep their value."""
    used = set(
        re.findall(r"\b[a-zA-Z_]\w*", " ".join(r["expr"] for g in rules["groups"] for r in g["rules"]))
    )
    sample = ClassifierPod("sample", BROKEN)
    families = text_string_to_metric_families(sample.serve(CLIENT_ERROR_EVERY).decode())
    shapes = [
        (
            s.name,
            s.labels,
            s.value / CLIENT_ERROR_EVERY if f.type in {"counter", "histogram"} else None,
            s.value,
        )
        for f in families
        for s in f.samples
        if s.name in used
    ]
    interval = prometheus_duration_seconds(classifier_scrape_interval()) / SPEEDUP
    times = [end - HISTORY_SECONDS + n * interval for n in range(int(HISTORY_SECONDS / interval) + 1)]
    lines = []
    for pod in fleet():
        for name, labels, per_request, value in shapes:
            text = ",".join(f'{k}="{v}"' for k, v in sorted((labels | pod.labels(address)).items()))
            for at in times:
                grown = value if per_request is None else per_request * REQUESTS_PER_SECOND * (at - times[0])
                lines.append(f"{name}{{{text}}} {grown:.6g} {at:.3f}")
    return "\n".join([*lines, "# EOF", ""])


def classifier_scrape_interval(root: Path = REPO_ROOT) -> str:
    """The classifier ServiceMonitor's scrape interval, as prod renders it."""
    (monitor,) = [m for m in environment_objects(root, "prod") if m["kind"] == "ServiceMonitor"]
    return str(monitor["spec"]["endpoints"][0]["interval"])


def rollouts_metric_relabelings(root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """platform/argo-rollouts.yaml's metricRelabelings as prometheus-operator writes them into
    Prometheus's config (generateRelabelConfig: snake_case keys, lower-case action)."""
    values = helm_values(yaml.safe_load((root / ROLLOUTS_VALUES).read_text()))
    monitor = values["controller"]["metrics"]["serviceMonitor"]
    converted = []
    for relabeling in monitor["metricRelabelings"]:
        config = {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value for key, value in relabeling.items()}
        if "action" in config:
            config["action"] = config["action"].lower()
        converted.append(config)
    return converted
