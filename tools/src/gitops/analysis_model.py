"""How Argo Rollouts v1.8.3 turns measurements into a verdict: an exact, small model, no I/O.

- Measurement: Error when the provider failed (metricproviders/prometheus/prometheus.go Run), else
  utils/evaluate/evaluate.go EvaluateResult (gitops.analysis_eval; an evaluation error is Error too).
- Counters (analysis/analysis.go runMeasurements): Successful, Failed, Inconclusive add to `count` and
  reset consecutiveError; Error adds to `error` and consecutiveError only, never to `count`.
- Metric (assessMetricStatus): a finished phase sticks; none measured: Pending (Successful if terminating);
  in flight: Running; then (assessMetricFailureInconclusiveOrError, the last that holds wins) failed >
  failureLimit (0; < 0 off) Failed, inconclusive > inconclusiveLimit (0) Inconclusive, consecutiveError >
  consecutiveErrorLimit (4, utils/defaults) Error; consecutiveSuccessLimit (> 0) reached: Successful;
  Metric.EffectiveCount reached: Successful (Inconclusive or Failed if a success limit was not met);
  else Running (Successful if terminating).
- Run (assessRunStatus): Running until every metric finished, then the worst (utils/analysis/helpers.go
  IsWorse: Successful < Running < Pending < Inconclusive < Error < Failed), dryRun metrics left out;
  terminating (IsTerminating): the worst finished, or Successful. Rollout (rollout/analysis.go):
  Inconclusive pauses, Error and Failed abort, a step run's Successful completes its step (canary.go).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from gitops.analysis_eval import UnsupportedCondition, evaluate_result, render_args
from gitops.durations import duration_seconds

Phase = str  # "Pending" | "Running" | "Successful" | "Failed" | "Error" | "Inconclusive"

# pkg/apis/rollouts/v1alpha1/analysis_types.go AnalysisPhase.Completed
COMPLETED = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
# utils/analysis/helpers.go analysisStatusOrder: best to worst.
_RANK = {p: i for i, p in enumerate(("Successful", "Running", "Pending", "Inconclusive", "Error", "Failed"))}
STOPS_RUN = frozenset({"Failed", "Error", "Inconclusive"})  # helpers.go IsTerminating
# utils/defaults/defaults.go DefaultConsecutiveErrorLimit
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    count: int | None
    interval_seconds: float | None
    initial_delay_seconds: float
    failure_limit: int
    inconclusive_limit: int
    consecutive_error_limit: int
    consecutive_success_limit: int
    success_condition: str | None
    failure_condition: str | None
    dry_run: bool = False

    @classmethod
    def from_template(
        cls, metric: dict[str, Any], args: dict[str, str], dry_run_metrics: Collection[str] = frozenset()
    ) -> MetricSpec:
        """One entry of an AnalysisTemplate's spec.metrics, args substituted first as upstream does
        (utils/analysis/factory.go ResolveMetricArgs); `dry_run_metrics` are spec.dryRun[].metricName
        rules, unanchored regular expressions (utils/analysis/helpers.go GetDryRunMetrics)."""
        resolved = _resolve(metric, args)
        name = resolved["name"]
        count = resolved.get("count")
        return cls(
            name=name,
            count=None if count is None else _int_value(count),
            interval_seconds=duration_seconds(resolved.get("interval")),
            initial_delay_seconds=duration_seconds(resolved.get("initialDelay")) or 0.0,
            failure_limit=_int_value(resolved.get("failureLimit", 0)),
            inconclusive_limit=_int_value(resolved.get("inconclusiveLimit", 0)),
            consecutive_error_limit=_int_value(
                resolved.get("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT)
            ),
            consecutive_success_limit=_int_value(resolved.get("consecutiveSuccessLimit", 0)),
            success_condition=resolved.get("successCondition") or None,
            failure_condition=resolved.get("failureCondition") or None,
            dry_run=any(re.search(rule, name) for rule in dry_run_metrics),
        )

    def effective_count(self) -> int | None:
        """analysis_types.go Metric.EffectiveCount: no count (or 0) and no interval is one measurement;
        only an interval measures until the run is terminated (None)."""
        if self.count is None or self.count == 0:
            return 1 if self.interval_seconds is None else None
        return self.count


@dataclass(frozen=True, slots=True)
class MetricResult:
    name: str
    phase: Phase = "Pending"
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0
    measurements: tuple[Phase, ...] = ()


def measurement_phase(spec: MetricSpec, result: list[float] | None, error: str | None = None) -> Phase:
    """`result` None or `error` set: the provider failed. prometheus.go Run marks a query error
    (MarkMeasurementError) and processResponse a result type other than vector, matrix or scalar
    ("Prometheus metric type not supported") as Error; so is a failing condition (EvaluateResult)."""
    if error is not None or result is None:
        return "Error"
    try:
        return evaluate_result(spec.success_condition, spec.failure_condition, result)
    except UnsupportedCondition:
        raise
    except Exception:  # an expr compile or runtime error: EvaluateResult returns AnalysisPhaseError
        return "Error"


def record(spec: MetricSpec, result: MetricResult, phase: Phase) -> MetricResult:
    """analysis.go runMeasurements: the counters for one measurement (`spec` does not change them).
    An unfinished phase is an in-flight measurement, which the next one replaces, as a resumed one does."""
    if phase not in COMPLETED | {"Pending", "Running"}:
        raise ValueError(f"not a measurement phase: {phase!r}")
    r = result
    if phase in {"Successful", "Failed", "Inconclusive"}:
        r = replace(r, count=r.count + 1, consecutive_error=0)
    if phase == "Successful":
        r = replace(r, successful=r.successful + 1, consecutive_success=r.consecutive_success + 1)
    elif phase == "Failed":
        r = replace(r, failed=r.failed + 1, consecutive_success=0)
    elif phase == "Inconclusive":
        r = replace(r, inconclusive=r.inconclusive + 1, consecutive_success=0)
    elif phase == "Error":  # not in `count`: an errored measurement is retried (DefaultErrorRetryInterval)
        r = replace(r, error=r.error + 1, consecutive_error=r.consecutive_error + 1, consecutive_success=0)
    in_flight = bool(r.measurements) and r.measurements[-1] not in COMPLETED
    return replace(
        r,
        phase="Running" if r.phase == "Pending" else r.phase,  # a new MetricResult starts Running
        measurements=(r.measurements[:-1] if in_flight else r.measurements) + (phase,),
    )


def _failure_inconclusive_or_error(spec: MetricSpec, result: MetricResult) -> Phase | None:
    """analysis.go assessMetricFailureInconclusiveOrError: each later check overrides the earlier."""
    phase = None
    if spec.failure_limit >= 0 and result.failed > spec.failure_limit:
        phase = "Failed"
    if result.inconclusive > spec.inconclusive_limit:
        phase = "Inconclusive"
    if result.consecutive_error > spec.consecutive_error_limit:
        phase = "Error"
    return phase


def assess_metric(spec: MetricSpec, result: MetricResult, terminating: bool = False) -> Phase:
    """analysis.go assessMetricStatus."""
    if result.phase in COMPLETED:
        return result.phase
    if not result.measurements:
        return "Successful" if terminating else "Pending"
    if result.measurements[-1] not in COMPLETED:
        return "Running"
    limit_phase = _failure_inconclusive_or_error(spec, result)
    if limit_phase is not None:
        return limit_phase
    success_applicable = spec.consecutive_success_limit > 0
    if success_applicable and result.consecutive_success >= spec.consecutive_success_limit:
        return "Successful"
    effective_count = spec.effective_count()
    if effective_count is not None and result.count >= effective_count:
        if success_applicable:  # the consecutive successes were not reached within `count`
            return "Inconclusive" if spec.failure_limit >= 0 else "Failed"
        return "Successful"
    return "Successful" if terminating else "Running"


def is_worse(current: Phase, new: Phase) -> bool:
    """utils/analysis/helpers.go IsWorse; an unknown phase ranks as Successful, as there."""
    return _RANK.get(new, 0) > _RANK.get(current, 0)


def is_terminating(specs: list[MetricSpec], results: list[MetricResult], terminate: bool = False) -> bool:
    """utils/analysis/helpers.go IsTerminating: spec.terminate, or a non-dryRun metric's recorded
    phase (assessed at the previous reconcile) is already Failed, Error or Inconclusive."""
    dry_run = {spec.name for spec in specs if spec.dry_run}
    return terminate or any(r.phase in STOPS_RUN and r.name not in dry_run for r in results)


def assess_run(specs: list[MetricSpec], results: list[MetricResult], terminating: bool = False) -> Phase:
    """analysis.go assessRunStatus; `terminating` is spec.terminate (a metric's recorded failure also
    terminates, is_terminating). A metric without a result has not started: the run is not complete."""
    by_name = {result.name: result for result in results}
    terminating = is_terminating(specs, results, terminating)
    worst: Phase | None = None
    everything_completed = True
    for spec in specs:
        result = by_name.get(spec.name)
        status = assess_metric(spec, result, terminating) if result is not None else "Pending"
        if status not in COMPLETED:
            everything_completed = False
        elif not spec.dry_run:
            if worst is None or is_worse(worst, status):
                worst = status
        elif worst is None:  # a dryRun metric's phase is never the run's
            worst = "Successful"
    if terminating:
        return worst or "Successful"
    if not everything_completed or worst is None:
        return "Running"
    return worst


def rollout_action(run_type: str, run_phase: Phase) -> str:
    """What the Rollout does with its current run's phase. rollout/analysis.go has the same switch in
    reconcileBackgroundAnalysisRun and reconcileStepBasedAnalysisRun:

        case v1alpha1.AnalysisPhaseInconclusive:
            c.pauseContext.AddPauseCondition(v1alpha1.PauseReasonInconclusiveAnalysis)
        case v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseFailed:
            c.pauseContext.AddAbort(currentAr.Status.Message)

    The difference is what "continue" and "keep-running" hold back: a step run blocks its step until
    it is Successful (rollout/canary.go completedCurrentCanaryStep), a background run never blocks the
    steps; it only pauses or aborts them, and promotion terminates it.
    """
    if run_type not in {"Background", "Step"}:
        raise ValueError(f"run_type is Background or Step, not {run_type!r}")
    if run_phase == "Inconclusive":
        return "pause"
    if run_phase in {"Error", "Failed"}:
        return "abort"
    return "continue" if run_phase == "Successful" else "keep-running"


def _resolve(value: Any, args: dict[str, str]) -> Any:
    if isinstance(value, str):
        return render_args(value, args)
    if isinstance(value, dict):
        return {key: _resolve(item, args) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, args) for item in value]
    return value


def _int_value(value: Any) -> int:
    """intstr.IntOrString.IntValue: an int, or a string parsed by strconv.Atoi (0 when it is not one)."""
    if isinstance(value, int):
        return value
    return int(value) if re.fullmatch(r"[+-]?\d+", str(value)) else 0
