"""Durations in the two grammars this repository writes: Go's ("1m", "2m30s", "1.5h", "500ms"), as
the Kubernetes controllers parse them (time.ParseDuration), and Prometheus's ("5m", "1h30m", "30d",
whole numbers, up to years), as PromQL and Prometheus's settings parse them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)")


def duration_seconds(text: Any) -> float | None:
    """time.ParseDuration (DurationString.Duration): "1m", "30s", "2m30s", "1.5h"; absent is None."""
    if text is None or text == "":
        return None
    body = str(text)
    parts = _DURATION_PART.findall(body)
    if body != "0" and (not parts or "".join(number + unit for number, unit in parts) != body):
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


# prometheus/common model/time.go ParseDuration (units largest first; the order is not checked here).
PROMETHEUS_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_PROMETHEUS_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_PROMETHEUS_SECONDS = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_RANGE = re.compile(rf"\[(?P<range>{PROMETHEUS_DURATION})(?P<colon>:(?P<step>{PROMETHEUS_DURATION})?)?\]")
_OFFSET = re.compile(rf"\boffset(?P<space>\s+)(?P<sign>-?)(?P<duration>{PROMETHEUS_DURATION})")


def prometheus_duration_seconds(text: str) -> float:
    """A Prometheus duration ("5m", "1h30m", "30d", "500ms") in seconds."""
    parts = _PROMETHEUS_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _PROMETHEUS_SECONDS[unit] for number, unit in parts)


def scale_promql_durations(expr: str, factor: float, write: Callable[[float], str]) -> str:
    """Every range window, subquery step and offset in `expr` divided by `factor`, each written
    back by `write` from seconds: the same query on a clock `factor` times faster."""

    def scaled(duration: str) -> str:
        return write(prometheus_duration_seconds(duration) / factor)

    def window(match: re.Match[str]) -> str:
        step = match.group("step")
        colon = f":{scaled(step) if step else ''}" if match.group("colon") else ""
        return f"[{scaled(match.group('range'))}{colon}]"

    def offset(match: re.Match[str]) -> str:
        return f"offset{match.group('space')}{match.group('sign')}{scaled(match.group('duration'))}"

    return _OFFSET.sub(offset, _RANGE.sub(window, expr))
