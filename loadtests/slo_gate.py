"""The SLO gate: read locust's JSON stats and fail when p99 latency or the error rate of the
SLO routes breaks the objectives in platform/slo/slos.yaml.

    python loadtests/slo_gate.py stats.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops.paths import REPO_ROOT
from gitops.slo import Slo, load_slo


@dataclass(frozen=True, slots=True)
class GateResult:
    requests: int
    failures: int
    p99_ms: float
    slo: Slo

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.requests == 0:
            found.append("no requests reached the SLO routes")
        if self.error_rate > self.slo.error_budget:
            found.append(f"error rate {self.error_rate:.4%} exceeds the budget {self.slo.error_budget:.4%}")
        if self.p99_ms > self.slo.latency_threshold_seconds * 1000:
            found.append(
                f"p99 {self.p99_ms:.0f} ms exceeds {self.slo.latency_threshold_seconds * 1000:.0f} ms"
            )
        return found

    def summary(self) -> str:
        return (
            f"{self.requests} requests on the SLO routes, {self.failures} failed ({self.error_rate:.3%}), "
            f"p99 {self.p99_ms:.0f} ms"
        )


def _percentile(histogram: dict[int, int], quantile: float) -> float:
    total = sum(histogram.values())
    if not total:
        return 0.0
    threshold = quantile * total
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= threshold:
            return float(value)
    return float(max(histogram))


def evaluate(stats: list[dict[str, Any]], slo: Slo) -> GateResult:
    entries = [entry for entry in stats if entry["name"] in slo.routes]
    histogram: dict[int, int] = {}
    for entry in entries:
        for value, count in entry["response_times"].items():
            histogram[int(float(value))] = histogram.get(int(float(value)), 0) + int(count)
    return GateResult(
        requests=sum(int(e["num_requests"]) for e in entries),
        failures=sum(int(e["num_failures"]) for e in entries),
        p99_ms=_percentile(histogram, 0.99),
        slo=slo,
    )


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    stats = json.loads(Path(args[0]).read_text())
    result = evaluate(stats, load_slo(REPO_ROOT / "platform/slo/slos.yaml"))
    print(result.summary())
    for problem in result.problems():
        print(f"SLO gate FAILED: {problem}")
    return 1 if result.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
