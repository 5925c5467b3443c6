"""The SLO declaration (platform/slo/slos.yaml): parsed once, validated, and the numbers
other files are generated from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops.durations import duration_seconds, prometheus_duration_seconds

# The request-duration histogram's bucket bounds, a copy of services/classifier/.../metrics.py's
# LATENCY_BUCKETS (tools/tests/test_exported_metrics.py ties the two): the latency threshold must
# be one of them, or the SLI would be interpolated, not counted.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5,
    2.0, 3.0, 5.0, 10.0,
)  # fmt: skip


class SloError(ValueError):
    """The SLO declaration is incomplete or inconsistent."""


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    """How the canary's measurements are judged: the step analysis before full promotion and the
    background analysis all through the rollout (see platform/slo/slos.yaml)."""

    interval: str
    step_measurements: int
    background_initial_delay: str
    background_failures: int
    background_inconclusive: int


@dataclass(frozen=True, slots=True)
class Alerting:
    """Who an environment's alerts wake (platform/slo/slos.yaml `alerting`)."""

    # False: its alerts other than the burn-rate ones open tickets instead of paging.
    pages: bool
    # True: inference requests never stop there, so their absence is an alert.
    always_serves: bool


@dataclass(frozen=True, slots=True)
class PairedFloors:
    """Lowest top-1 agreement and top-5 overlap with stable on the golden set."""

    min_agreement: float
    min_top5_overlap: float


@dataclass(frozen=True, slots=True)
class PairedCheck:
    """The paired model-quality check (platform/slo/slos.yaml `quality.paired`)."""

    same_model: PairedFloors
    same_network: PairedFloors  # another build of the same network: version "1" -> "1+int8"
    new_model: PairedFloors
    min_accuracy: float
    deadline_seconds: int


@dataclass(frozen=True, slots=True)
class LiveCheck:
    """The live model-quality comparison (platform/slo/slos.yaml `quality.live`)."""

    window: str
    scrape_interval: str
    min_predictions: int
    max_checks: int
    false_abort_budget: float
    inconclusive: int


@dataclass(frozen=True, slots=True)
class Slo:
    service: str
    routes: tuple[str, ...]
    window: str
    availability_target: float
    latency_target: float
    latency_threshold_seconds: float
    canary_max_burn_rate: float
    prometheus_url: str
    rate_window: str
    analysis: AnalysisPolicy
    # namespace -> (availability target, latency target), where they differ from the defaults
    overrides: dict[str, tuple[float, float]]
    paired: PairedCheck
    live: LiveCheck
    # namespace -> its alerting policy, for every environment
    alerting: dict[str, Alerting] = field(default_factory=dict)

    @property
    def error_budget(self) -> float:
        return 1.0 - self.availability_target

    @property
    def canary_max_error_rate(self) -> float:
        return round(self.error_budget * self.canary_max_burn_rate, 6)

    @property
    def routes_regex(self) -> str:
        """A PromQL-string-ready regex matching exactly the SLO's route templates."""
        return "|".join(re.escape(route).replace("\\", "\\\\") for route in self.routes)

    def selector(self, *extra: str) -> str:
        return ",".join([*extra, f'route=~"{self.routes_regex}"'])


def load_slo(path: Path) -> Slo:
    try:
        raw: dict[str, Any] = yaml.safe_load(path.read_text())
        slo = Slo(
            service=raw["service"],
            routes=tuple(raw["routes"]),
            window=raw["window"],
            availability_target=float(raw["objectives"]["availability"]["target"]),
            latency_target=float(raw["objectives"]["latency"]["target"]),
            latency_threshold_seconds=float(raw["objectives"]["latency"]["threshold_seconds"]),
            canary_max_burn_rate=float(raw["canary"]["max_burn_rate"]),
            prometheus_url=raw["canary"]["prometheus"],
            rate_window=raw["canary"]["rate_window"],
            analysis=AnalysisPolicy(
                interval=str(raw["canary"]["interval"]),
                step_measurements=int(raw["canary"]["step"]["measurements"]),
                background_initial_delay=str(raw["canary"]["background"]["initial_delay"]),
                background_failures=int(raw["canary"]["background"]["failures"]),
                background_inconclusive=int(raw["canary"]["background"]["inconclusive"]),
            ),
            overrides={
                namespace: (
                    float(values.get("availability_target", raw["objectives"]["availability"]["target"])),
                    float(values.get("latency_target", raw["objectives"]["latency"]["target"])),
                )
                for namespace, values in (raw.get("environments") or {}).items()
            },
            alerting={
                namespace: Alerting(
                    pages=_flag(policy, "pages"), always_serves=_flag(policy, "always_serves")
                )
                for namespace, policy in raw["alerting"].items()
            },
            paired=_paired(raw["quality"]["paired"]),
            live=_live(raw["quality"]["live"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SloError(f"{path}: missing or invalid field: {error}") from None
    targets = [("availability", slo.availability_target), ("latency", slo.latency_target)]
    for namespace, (availability, latency) in slo.overrides.items():
        targets += [(f"{namespace} availability", availability), (f"{namespace} latency", latency)]
    for name, target in targets:
        if not 0.5 < target < 1.0:
            raise SloError(f"{path}: the {name} target must be between 0.5 and 1, got {target}")
    if slo.latency_threshold_seconds not in LATENCY_BUCKETS:
        raise SloError(
            f"{path}: latency threshold {slo.latency_threshold_seconds}s is not a histogram bucket bound "
            f"{LATENCY_BUCKETS}"
        )
    if not slo.alerting:
        raise SloError(f"{path}: `alerting` names no environment")
    policy = slo.analysis
    counts = [policy.step_measurements, policy.background_failures, policy.background_inconclusive]
    if min(counts) < 1:
        raise SloError(f"{path}: the canary's measurement counts must be at least 1, got {counts}")
    # The analysis's timings are read by Argo Rollouts (Go durations); the windows by Prometheus.
    for duration, parse in (
        (policy.interval, duration_seconds),
        (policy.background_initial_delay, duration_seconds),
        (slo.rate_window, prometheus_duration_seconds),
        (slo.window, prometheus_duration_seconds),
    ):
        try:
            parse(duration)
        except ValueError:
            raise SloError(f"{path}: {duration!r} is not a duration like 30s, 1m or 1m30s") from None
    if slo.canary_max_error_rate >= 1.0:
        raise SloError(f"{path}: canary max error rate {slo.canary_max_error_rate} is not below 1")
    return slo


def _paired(raw: dict[str, Any]) -> PairedCheck:
    def floors(kind: str) -> PairedFloors:
        values = raw[kind]
        return PairedFloors(float(values["min_agreement"]), float(values["min_top5_overlap"]))

    check = PairedCheck(
        floors("same_model"),
        floors("same_network"),
        floors("new_model"),
        float(raw["min_accuracy"]),
        int(raw["deadline_seconds"]),
    )
    same, network, new = _floors(check.same_model), _floors(check.same_network), _floors(check.new_model)
    shares = [check.min_accuracy, *same, *network, *new]
    if not all(0.0 <= share <= 1.0 for share in shares):
        raise ValueError(f"quality.paired floors are shares between 0 and 1, got {shares}")
    if any(n > w or w > s for n, w, s in zip(new, network, same, strict=True)):
        raise ValueError(
            "quality.paired: floors go from the same model's down to a new model's: "
            "new_model <= same_network <= same_model"
        )
    if check.deadline_seconds < 30:
        raise ValueError(f"quality.paired.deadline_seconds must be at least 30, got {check.deadline_seconds}")
    return check


def _live(raw: dict[str, Any]) -> LiveCheck:
    live = LiveCheck(
        window=str(raw["window"]),
        scrape_interval=str(raw["scrape_interval"]),
        min_predictions=int(raw["min_predictions"]),
        max_checks=int(raw["max_checks"]),
        false_abort_budget=float(raw["false_abort_budget"]),
        inconclusive=int(raw["inconclusive"]),
    )
    prometheus_duration_seconds(live.window)
    prometheus_duration_seconds(live.scrape_interval)
    if min(live.min_predictions, live.max_checks, live.inconclusive) < 1:
        raise ValueError("quality.live: min_predictions, max_checks and inconclusive must be at least 1")
    if not 0.0 < live.false_abort_budget < 0.1:
        raise ValueError(
            f"quality.live.false_abort_budget must be a small share, got {live.false_abort_budget}"
        )
    return live


def _floors(floors: PairedFloors) -> tuple[float, float]:
    return (floors.min_agreement, floors.min_top5_overlap)


def _flag(policy: dict[str, Any], key: str) -> bool:
    """A yes/no setting, spelt as YAML's true or false: a string like "no" would read as true."""
    value = policy[key]
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value
