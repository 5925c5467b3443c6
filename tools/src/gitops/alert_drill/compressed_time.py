"""The generated rules in compressed time: every duration in them, and every scrape and
evaluation interval, divided by SPEEDUP, so that minutes of a cluster's alerting pass in seconds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from gitops.durations import prometheus_duration_seconds, scale_promql_durations
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES

SPEEDUP = 30  # the rules' 30 s evaluation becomes 1 s, `for: 2m` 4 s, a [1h] window [2m]
# prometheus-operator v0.83.0 (pkg/apis/monitoring/v1/prometheus_types.go): the evaluation interval
# of rule groups without one, and the scrape interval of ServiceMonitors without one (Argo Rollouts').
OPERATOR_INTERVAL = "30s"


def format_seconds(seconds: float) -> str:
    """A Prometheus duration for `seconds`, to the millisecond (at least 1 ms)."""
    whole = max(1, round(seconds * 1000))
    return f"{whole // 1000}s" if whole % 1000 == 0 else f"{whole}ms"


def compress(duration: str) -> str:
    return format_seconds(prometheus_duration_seconds(duration) / SPEEDUP)


def compress_promql(expr: str) -> str:
    """Range windows, subquery steps and offsets divided by SPEEDUP."""
    return scale_promql_durations(expr, SPEEDUP, format_seconds)


def compressed_rules(spec: dict[str, Any]) -> dict[str, Any]:
    """A PrometheusRule's spec as a rules file whose every duration is divided by SPEEDUP."""
    rules = copy.deepcopy(spec)
    for group in rules["groups"]:
        group["interval"] = compress(group.get("interval") or OPERATOR_INTERVAL)
        for rule in group["rules"]:
            rule["expr"] = compress_promql(rule["expr"])
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = compress(rule[key])
    return rules


def generated_rules(root: Path = REPO_ROOT) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((root / RULES).read_text())["spec"]
    return spec
