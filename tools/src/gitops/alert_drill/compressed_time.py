"""The generated rules in compressed time: every duration in them, and every scrape and
evaluation interval, divided by SPEEDUP, so that minutes of a cluster's alerting pass in seconds."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES

SPEEDUP = 30  # the rules' 30 s evaluation becomes 1 s, `for: 2m` 4 s, a [1h] window [2m]
# prometheus-operator v0.83.0 (pkg/apis/monitoring/v1/prometheus_types.go): the evaluation interval
# of rule groups without one, and the scrape interval of ServiceMonitors without one (Argo Rollouts').
OPERATOR_INTERVAL = "30s"
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_UNIT_MS["y"] = 365 * _UNIT_MS["d"]
_RANGE = re.compile(rf"\[(?P<range>{_DURATION})(?P<colon>:(?P<step>{_DURATION})?)?\]")
_OFFSET = re.compile(rf"\boffset(?P<space>\s+)(?P<sign>-?)(?P<duration>{_DURATION})")


def duration_ms(text: str) -> int:
    """A Prometheus duration ("5m", "1h30m", "3d", "500ms") in milliseconds."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _UNIT_MS[unit] for number, unit in parts)


def format_ms(milliseconds: float) -> str:
    whole = max(1, round(milliseconds))
    return f"{whole // 1000}s" if whole % 1000 == 0 else f"{whole}ms"


def compress(duration: str) -> str:
    return format_ms(duration_ms(duration) / SPEEDUP)


def compress_promql(expr: str) -> str:
    """Range windows, subquery steps and offsets divided by SPEEDUP."""

    def window(match: re.Match[str]) -> str:
        step = match.group("step")
        colon = f":{compress(step) if step else ''}" if match.group("colon") else ""
        return f"[{compress(match.group('range'))}{colon}]"

    def offset(match: re.Match[str]) -> str:
        return f"offset{match.group('space')}{match.group('sign')}{compress(match.group('duration'))}"

    return _OFFSET.sub(offset, _RANGE.sub(window, expr))


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
