"""Go durations ("1m", "30s", "2m30s", "1.5h", "500ms"), as the Kubernetes controllers this
repository configures parse them (Go's time.ParseDuration)."""

from __future__ import annotations

import re
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
