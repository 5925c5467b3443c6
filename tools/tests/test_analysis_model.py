"""gitops.analysis_model agrees with argo-rollouts v1.8.3's own tests (issue #13).

Each upstream case is a table row whose id names the upstream test function (the file is in the
table's heading): same inputs, same expected phases. Where an upstream test drives the whole
controller (reconcileAnalysisRun with a mocked provider, or the Rollout controller), only its
assessment is transcribed: the measurement the mock returns is recorded with `record`, then the run
is assessed. Messages, run summaries, events and timers are not modelled. Rows whose id starts with
`code:` are not upstream tests; they are read off the cited upstream code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gitops.analysis import GUARD
from gitops.analysis_eval import condition_holds
from gitops.analysis_model import (
    MetricResult,
    MetricSpec,
    assess_metric,
    assess_run,
    is_terminating,
    is_worse,
    measurement_phase,
    record,
    rollout_action,
)
from gitops.delivery import environment_objects
from gitops.paths import REPO_ROOT
from gitops.render import Manifest

# The phases by initial, so that the tables read as tables.
S, F, I, E, R, P = "Successful", "Failed", "Inconclusive", "Error", "Running", "Pending"  # noqa: E741
EVERY_60S: dict[str, Any] = {"interval_seconds": 60.0}  # upstream `Interval: "60s"`


def metric(name: str = "success-rate", **fields: Any) -> MetricSpec:
    """A v1alpha1.Metric with upstream's defaults for everything the test leaves out."""
    defaults: dict[str, Any] = {
        "count": None,
        "interval_seconds": None,
        "initial_delay_seconds": 0.0,
        "failure_limit": 0,
        "inconclusive_limit": 0,
        "consecutive_error_limit": 4,
        "consecutive_success_limit": 0,
        "success_condition": None,
        "failure_condition": None,
    }
    return MetricSpec(name=name, **(defaults | fields))


def counts(failed: int, successful: int, count: int, consecutive_success: int) -> dict[str, Any]:
    """A MetricResult whose last measurement Failed, as the upstream tests build it."""
    return {"failed": failed, "successful": successful, "count": count,
            "consecutive_success": consecutive_success, "measurements": (F,)}  # fmt: skip


# --- analysis/analysis_test.go: assessMetricStatus ------------------------------------------------
# (upstream test [what the row varies], metric fields, MetricResult fields, phase when not terminating,
#  phase when terminating); None: that call is not asserted upstream.
FL, CSL, CNT = "failure_limit", "consecutive_success_limit", "count"
SUCCESS_LIMIT = {CSL: 3, FL: -1, **EVERY_60S}
BOTH = {FL: 4, CSL: 4, **EVERY_60S}
THREE_FAILED = {"failed": 3, CNT: 3, "measurements": (F,)}
T_CSL = "TestAssessMetricStatusConsecutiveSuccessLimit"
T_BOTH = "TestAssessMetricStatusFailureLimitAndConsecutiveSuccessLimit"
# fmt: off
METRIC_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str | None, str | None]] = [
    ("TestAssessMetricStatusNoMeasurements", {}, {}, P, S),
    ("TestAssessMetricStatusInFlightMeasurement", {}, {"measurements": (S, R)}, R, R),
    ("TestAssessMetricStatusFailureLimit[2]", {FL: 2, **EVERY_60S}, THREE_FAILED, F, F),
    ("TestAssessMetricStatusFailureLimit[3]", {FL: 3, **EVERY_60S}, THREE_FAILED, R, S),
    (f"{T_CSL}[indefinite: 3 of 3]", SUCCESS_LIMIT, counts(3, 4, 7, 3), S, S),
    (f"{T_CSL}[indefinite: 3 of 5]", {**SUCCESS_LIMIT, CSL: 5}, counts(3, 4, 7, 3), R, S),
    (f"{T_CSL}[count 7 reached: 3 of 5]", {**SUCCESS_LIMIT, CSL: 5, CNT: 7}, counts(3, 4, 7, 3), F, F),
    (f"{T_CSL}[count 7 reached: 3 of 3]", {**SUCCESS_LIMIT, CNT: 7}, counts(3, 4, 7, 3), S, S),
    (f"{T_CSL}[count 9 not reached: 3 of 3]", {**SUCCESS_LIMIT, CNT: 9}, counts(3, 4, 7, 3), S, S),
    (f"{T_CSL}[count 9 not reached: 3 of 5]", {**SUCCESS_LIMIT, CSL: 5, CNT: 9}, counts(3, 4, 7, 3), R, S),
    (f"{T_BOTH}[indefinite: neither]", BOTH, counts(3, 4, 7, 3), R, S),
    (f"{T_BOTH}[indefinite: failures]", BOTH, counts(5, 9, 9, 0), F, F),
    (f"{T_BOTH}[indefinite: successes]", BOTH, counts(3, 5, 8, 4), S, S),
    (f"{T_BOTH}[indefinite: both]", BOTH, counts(5, 5, 10, 4), F, F),
    (f"{T_BOTH}[count reached: neither]", {**BOTH, CNT: 10}, counts(4, 6, 10, 3), I, I),
    (f"{T_BOTH}[count reached: failures]", {**BOTH, CNT: 10}, counts(5, 5, 10, 3), F, F),
    (f"{T_BOTH}[count reached: successes]", {**BOTH, CNT: 10}, counts(4, 6, 10, 4), S, S),
    (f"{T_BOTH}[count reached: both]", {**BOTH, CNT: 10}, counts(5, 5, 10, 4), F, F),
    (f"{T_BOTH}[count not reached: neither]", {**BOTH, CNT: 10}, counts(3, 5, 8, 3), R, S),
    (f"{T_BOTH}[count not reached: failures]", {**BOTH, CNT: 10}, counts(5, 3, 8, 3), F, F),
    (f"{T_BOTH}[count not reached: successes]", {**BOTH, CNT: 10}, counts(3, 5, 8, 4), S, S),
    (f"{T_BOTH}[count not reached: both]", {**BOTH, CNT: 10}, counts(5, 4, 9, 4), F, F),
    ("TestAssessMetricStatusInconclusiveLimit[2]", {"inconclusive_limit": 2, **EVERY_60S},
     {"inconclusive": 3, CNT: 3, "measurements": (I,)}, I, I),
    ("TestAssessMetricStatusInconclusiveLimit[3]", {"inconclusive_limit": 3, **EVERY_60S},
     {"inconclusive": 3, CNT: 3, "measurements": (I,)}, R, S),
    ("TestAssessMetricStatusConsecutiveErrors[5 > default 4]", EVERY_60S,
     {"consecutive_error": 5, CNT: 5, "measurements": (E,)}, E, E),
    ("TestAssessMetricStatusConsecutiveErrors[4]", EVERY_60S,
     {"consecutive_error": 4, CNT: 5, "measurements": (E,)}, R, S),
    ("TestAssessMetricStatusCountReached[10 successful]", {CNT: 10},
     {"successful": 10, CNT: 10, "measurements": (S,)}, S, None),
    ("TestAssessMetricStatusCountReached[5 inconclusive]", {CNT: 10},
     {"successful": 5, "inconclusive": 5, CNT: 10, "measurements": (S,)}, I, None),
    ("TestAssessMetricFailureInconclusiveOrError[failed]", {}, {"failed": 1, "measurements": (F,)}, None, F),
    ("TestAssessMetricFailureInconclusiveOrError[inconclusive]", {},
     {"inconclusive": 1, "measurements": (I,)}, None, I),
    ("TestAssessMetricFailureInconclusiveOrError[errors]", {},
     {"consecutive_error": 5, "measurements": (E,)}, None, E),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec_fields", "result_fields", "not_terminating", "terminating"),
    [pytest.param(*row[1:], id=row[0]) for row in METRIC_CASES],
)
def test_metric_phase_matches_upstream(
    spec_fields: dict[str, Any],
    result_fields: dict[str, Any],
    not_terminating: str | None,
    terminating: str | None,
) -> None:
    spec, result = metric(**spec_fields), MetricResult("success-rate", **result_fields)
    if not_terminating is not None:
        assert assess_metric(spec, result, terminating=False) == not_terminating
    if terminating is not None:
        assert assess_metric(spec, result, terminating=True) == terminating


# --- analysis/analysis_test.go: assessRunStatus, and reconcileAnalysisRun's assessment ------------
def terminating_run(
    status: str, dry_run: bool = False, **first: Any
) -> tuple[list[MetricSpec], list[MetricResult]]:
    """newTerminatingRun: `run-forever` has a measurement in flight, `failed-metric` finished `status`;
    `first` overrides fields of run-forever's result."""
    counter = {F: "failed", I: "inconclusive", E: "error"}[status]
    forever = MetricResult("run-forever", phase=R, measurements=(R,))
    return (
        [metric("run-forever", dry_run=dry_run), metric("failed-metric", dry_run=dry_run)],
        [replace(forever, **first), MetricResult("failed-metric", status, count=1, measurements=(status,),
                                                 **{counter: 1})],
    )  # fmt: skip


def two(first: MetricResult, second: MetricResult) -> tuple[list[MetricSpec], list[MetricResult]]:
    return [metric(first.name), metric(second.name)], [first, second]


# StartAssessRunStatusMultipleFailures: run-forever has Failed too.
RERUN: dict[str, Any] = {"phase": F, "failed": 1}
# StartTerminatingAnalysisRun's metric: InitialDelay and Interval "20s".
INITIAL_DELAY: dict[str, Any] = {"initial_delay_seconds": 20.0, "interval_seconds": 20.0}
# (upstream test, (metrics, results before), measurements the reconcile takes, spec.terminate, run phase)
# fmt: off
RUN_CASES: list[tuple[str, tuple[list[MetricSpec], list[MetricResult]], list[tuple[str, str]], bool, str]] = [
    ("TestAssessRunStatus[one still running]",
     two(MetricResult("latency", S), MetricResult("success-rate", R)), [], False, R),
    ("TestAssessRunStatus[worst of the completed]",
     two(MetricResult("latency", S), MetricResult("success-rate", F)), [], False, F),
    ("TestAssessRunStatusUpdateResult",
     two(MetricResult("sleep-infinity", R, measurements=(R,)),
         MetricResult("fail-after-30", R, count=1, failed=1, measurements=(F,))), [], False, R),
    ("TestAssessRunStatusErrorMessageAnalysisPhaseFail", terminating_run(F, phase=S), [], False, F),
    ("TestAssessRunStatusErrorMessageAnalysisPhaseFailInDryRunMode", terminating_run(F, True, phase=S),
     [], False, S),
    ("TestAssessRunStatusErrorMessageFromProvider", terminating_run(F, phase=S), [], False, F),
    ("TestAssessRunStatusErrorMessageFromProviderInDryRunMode", terminating_run(F, True, phase=S),
     [], False, S),
    ("TestAssessRunStatusMultipleFailures", terminating_run(F, **RERUN), [], False, F),
    ("TestAssessRunStatusMultipleFailuresInDryRunMode", terminating_run(F, True, **RERUN), [], False, S),
    # Every metric has finished: the reconcile takes no measurement.
    ("TestAssessRunStatusWorstMessageInReconcileAnalysisRun", terminating_run(F, **RERUN), [], False, F),
    ("TestAssessRunStatusWorstMessageInReconcileAnalysisRunInDryRunMode", terminating_run(F, True, **RERUN),
     [], False, S),
    ("TestAssessRunStatusWithOnlyDryRunMetrics",
     ([metric("success-metric", dry_run=True)],
      [MetricResult("success-metric", S, count=1, successful=1, measurements=(S,))]), [], False, S),
    # The mocked Resume completes run-forever's measurement Successful; its earlier Inconclusive decides.
    ("TestAssessRunStatusWithMixedMetrics",
     ([metric("run-forever"), metric("success-metric", dry_run=True)],
      [MetricResult("run-forever", R, inconclusive=1, measurements=(R,)),
       MetricResult("success-metric", S, count=1, failed=1, measurements=(F,))]),
     [("run-forever", S)], False, I),
    # Terminated before the initialDelay passed: not a single measurement.
    ("TestTerminateAnalysisRun", ([metric(**INITIAL_DELAY, success_condition="result[0] > 0.90")], []),
     [], True, S),
    ("TestTerminateAnalysisRunInDryRunMode", ([metric(**INITIAL_DELAY, dry_run=True)], []), [], True, S),
    # The mocked Terminate ends run-forever's in-flight measurement Successful.
    *[(f"TestReconcileAnalysisRunTerminateSiblingAfterFail[{status}]", terminating_run(status),
       [("run-forever", S)], False, status) for status in (F, I, E)],
    # The mocked Resume completes the in-flight measurement Successful.
    ("TestReconcileAnalysisRunResumeInProgress",
     ([metric("test")], [MetricResult("test", R, measurements=(R,))]), [("test", S)], False, S),
]
# fmt: on


@pytest.mark.parametrize(
    ("run", "taken", "terminate", "expected"), [pytest.param(*row[1:], id=row[0]) for row in RUN_CASES]
)
def test_run_phase_matches_upstream(
    run: tuple[list[MetricSpec], list[MetricResult]],
    taken: list[tuple[str, str]],
    terminate: bool,
    expected: str,
) -> None:
    specs, results = run
    by_name = {spec.name: spec for spec in specs}
    for name, phase in taken:
        results = [record(by_name[name], r, phase) if r.name == name else r for r in results]
    assert assess_run(specs, results, terminating=terminate) == expected


def test_a_metric_is_assessed_failed_while_its_run_still_runs() -> None:
    """TestAssessRunStatusUpdateResult: MetricResults[1].Phase is Failed although the run is Running,
    because IsTerminating reads the phases recorded at the previous reconcile."""
    result = MetricResult("fail-after-30", R, count=1, failed=1, measurements=(F,))
    assert assess_metric(metric("fail-after-30"), result) == F


@pytest.mark.parametrize("status", [F, I, E])
def test_a_terminated_sibling_metric_ends_successful(status: str) -> None:
    """TestReconcileAnalysisRunTerminateSiblingAfterFail: MetricResults[0].Phase is Successful."""
    specs, results = terminating_run(status)
    forever = record(specs[0], results[0], S)
    assert assess_metric(specs[0], forever, terminating=is_terminating(specs, results)) == S


# --- analysis/analysis_test.go: runMeasurements' counters ------------------------------------------
def test_an_error_is_counted_as_an_error_not_as_a_measurement() -> None:
    """TestRunMeasurementsResetConsecutiveErrorCounter (its loop runs the Error status only)."""
    after = record(metric("test"), MetricResult("test", R, consecutive_error=4, count=4, error=4), E)
    assert (after.consecutive_error, after.error, after.count) == (5, 5, 4)
    assert assess_metric(metric("test"), after) == E  # code: 5 > DefaultConsecutiveErrorLimit


@pytest.mark.parametrize("phase", [S, I, F])
def test_a_non_error_measurement_resets_consecutive_errors(phase: str) -> None:
    """code: analysis.go runMeasurements; the expectation TestRunMeasurementsResetConsecutiveErrorCounter
    writes for these statuses, whose loop upstream has commented out."""
    after = record(metric("test"), MetricResult("test", R, consecutive_error=4, count=4, error=4), phase)
    assert (after.consecutive_error, after.error, after.count) == (0, 4, 5)


def test_consecutive_counters_follow_the_sequence() -> None:
    """code: analysis.go runMeasurements. Only Successful grows consecutiveSuccess, anything else zeroes
    it; an in-flight (Running) measurement is replaced by its completion, as a resumed one is."""
    spec, result = metric(**EVERY_60S), MetricResult("success-rate")
    for phase in (E, E, S, S, E, R, S):
        result = record(spec, result, phase)
    assert result.measurements == (E, E, S, S, E, S)
    assert (result.count, result.successful, result.error) == (3, 3, 3)
    assert (result.consecutive_error, result.consecutive_success) == (0, 1)


# --- utils/analysis/helpers_test.go ----------------------------------------------------------------
# TestIsWorst: (current, new, IsWorse)
# fmt: off
IS_WORSE_CASES = [
    (S, S, False), (S, I, True), (S, E, True), (S, F, True),
    (I, S, False), (I, I, False), (I, E, True), (I, F, True),
    (E, E, False), (E, S, False), (E, I, False), (E, F, True),
    (F, S, False), (F, I, False), (F, E, False), (F, F, False),
]
# fmt: on


@pytest.mark.parametrize(
    ("current", "new", "worse"),
    [pytest.param(*row, id=f"TestIsWorst[{row[0]}->{row[1]}]") for row in IS_WORSE_CASES],
)
def test_phase_order_matches_upstream(current: str, new: str, worse: bool) -> None:
    assert is_worse(current, new) is worse


FOUR = ("other-metric", "success-rate", "dry-run-metric", "yet-another-metric")
RUNNING = dict.fromkeys(FOUR, R)
DRY_ERROR = RUNNING | {"dry-run-metric": E}
# (upstream test [state], recorded phase per metric, spec.terminate, IsTerminating)
# fmt: off
TERMINATING_CASES: list[tuple[str, dict[str, str], bool, bool]] = [
    ("TestIsTerminating[running]", {"other-metric": R, "success-rate": R}, False, False),
    ("TestIsTerminating[terminate]", {"other-metric": R, "success-rate": R}, True, True),
    ("TestIsTerminating[error]", {"other-metric": R, "success-rate": E}, False, True),
    ("TestIsFastFailTerminating[running]", RUNNING, False, False),
    ("TestIsFastFailTerminating[dry-run metric errs]", DRY_ERROR, False, False),
    ("TestIsFastFailTerminating[a wet metric errs]", DRY_ERROR | {"yet-another-metric": E}, False, True),
    *[(f"TestIsFastFailTerminating[success-rate {phase}]",
       DRY_ERROR | {"yet-another-metric": E, "success-rate": phase}, False, True) for phase in (E, F, I)],
    ("TestIsFastFailTerminating[no results]", {}, False, False),
]
# fmt: on


@pytest.mark.parametrize(
    ("phases", "terminate", "expected"), [pytest.param(*row[1:], id=row[0]) for row in TERMINATING_CASES]
)
def test_terminating_matches_upstream(phases: dict[str, str], terminate: bool, expected: bool) -> None:
    specs = [metric(name, dry_run=name == "dry-run-metric") for name in FOUR]
    results = [MetricResult(name, phase) for name, phase in phases.items()]
    assert is_terminating(specs, results, terminate) is expected


@pytest.mark.parametrize(
    ("rules", "dry_run"),
    [
        pytest.param(
            {"success-rate"}, {"success-rate"}, id="TestGetDryRunMetrics[returns the metric names map]"
        ),
        pytest.param(
            {".*"}, {"success-rate", "error-rate"}, id="TestGetDryRunMetrics[handles the RegEx rules]"
        ),
        pytest.param(
            {"rate"}, {"success-rate", "error-rate"}, id="code: GetDryRunMetrics regexp is unanchored"
        ),
    ],
)
def test_dry_run_rules_match_like_upstream(rules: set[str], dry_run: set[str]) -> None:
    metrics = [{"name": name, "count": 1, "failureLimit": 2} for name in ("success-rate", "error-rate")]
    specs = [MetricSpec.from_template(m, {}, rules) for m in metrics]
    assert {spec.name for spec in specs if spec.dry_run} == dry_run


# --- utils/evaluate/evaluate_test.go, metricproviders/prometheus/prometheus_test.go ----------------
# (upstream test, successCondition, failureCondition, result, provider error, measurement phase)
UNSUPPORTED = "Prometheus metric type not supported"  # processResponse, on a nil response
# fmt: off
MEASUREMENT_CASES: list[tuple[str, str | None, str | None, list[float] | None, str | None, str]] = [
    ("TestEvaluateResultWithSuccess", "true", "false", [1.0], None, S),
    ("TestEvaluateResultWithFailure", "true", "true", [1.0], None, F),
    ("TestEvaluateResultInconclusive", "false", "false", [1.0], None, I),
    ("TestEvaluateResultNoSuccessConditionAndNotFailing", None, "false", [1.0], None, S),
    ("TestEvaluateResultNoFailureConditionAndNotSuccessful", "false", None, [1.0], None, F),
    ("TestEvaluateResultNoFailureConditionAndNoSuccessCondition", None, None, [1.0], None, S),
    ("TestEvaluateResultWithErrorOnSuccessCondition", "a == true", "true", [1.0], None, E),
    ("TestEvaluateResultWithErrorOnFailureCondition", "true", "a == true", [1.0], None, E),
    ("TestProcessVectorResponse", "10 in result", "len(result) != 2", [10.0, 11.0], None, S),
    ("TestRunWithQueryError", "result == 10", "result != 10", None, "bad big bug :(", E),
    ("TestRunWithEvaluationError", "result == 10", "result != 10", None, UNSUPPORTED, E),
    ("TestProcessInvalidResponse", "true", "true", None, None, E),
    ("code: an unguarded index on an empty vector is an Error (#1466)", "result[0] <= 1", None, [], None, E),
    ("code: a guarded condition on NaN is Inconclusive", f"{GUARD} && result[0] <= 1",
     f"{GUARD} && result[0] > 1", [float("nan")], None, I),
]
# fmt: on


@pytest.mark.parametrize(
    ("success", "failure", "result", "error", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in MEASUREMENT_CASES],
)
def test_measurement_phase_matches_upstream(
    success: str | None, failure: str | None, result: list[float] | None, error: str | None, expected: str
) -> None:
    spec = metric(success_condition=success, failure_condition=failure)
    assert measurement_phase(spec, result, error) == expected


@pytest.mark.parametrize(
    ("condition", "raised"),
    [
        pytest.param("1", TypeError, id="TestErrorWithNonBoolReturn"),
        pytest.param("invalidVariable", NameError, id="TestErrorWithInvalidReference"),
    ],
)
def test_condition_errors_match_upstream(condition: str, raised: type[Exception]) -> None:
    with pytest.raises(raised):
        condition_holds(condition, [1.0])


def test_in_operator_matches_upstream() -> None:
    """TestEvaluateInOperator."""
    assert condition_holds("2 in result", [2.0, 2.0])


# --- rollout/analysis_test.go: what the Rollout does with its current run --------------------------
# fmt: off
ACTION_CASES = [
    ("TestDoNothingWithAnalysisRunsWhileBackgroundAnalysisRunRunning", "Background", R, "keep-running"),
    ("TestDoNothingWhileStepBasedAnalysisRunRunning", "Step", R, "keep-running"),
    ("TestIncrementStepAfterSuccessfulAnalysisRun", "Step", S, "continue"),
    ("TestPausedOnInconclusiveBackgroundAnalysisRun", "Background", I, "pause"),
    ("TestPausedStepAfterInconclusiveAnalysisRun", "Step", I, "pause"),
    ("TestErrorConditionAfterErrorAnalysisRunStep", "Step", E, "abort"),
    ("TestErrorConditionAfterErrorAnalysisRunBackground", "Background", E, "abort"),
    ("code: reconcileStepBasedAnalysisRun, Failed", "Step", F, "abort"),
    ("code: reconcileBackgroundAnalysisRun, Failed", "Background", F, "abort"),
    ("code: reconcileBackgroundAnalysisRun, Successful blocks nothing", "Background", S, "continue"),
    ("code: completedCurrentCanaryStep, Pending is not Completed", "Step", P, "keep-running"),
]
# fmt: on


@pytest.mark.parametrize(
    ("run_type", "run_phase", "action"), [pytest.param(*row[1:], id=row[0]) for row in ACTION_CASES]
)
def test_rollout_action_matches_upstream(run_type: str, run_phase: str, action: str) -> None:
    assert rollout_action(run_type, run_phase) == action


# --- analysis_types.go Metric.EffectiveCount, and MetricSpec.from_template -------------------------
@pytest.mark.parametrize(
    ("fields", "effective"),
    [
        pytest.param({}, 1, id="TestGenerateMetricTasksNoIntervalOrCount"),
        pytest.param({"interval": "60s"}, None, id="code: only an interval runs until terminated"),
        pytest.param({"interval": "1m", "count": "0"}, None, id="code: count 0 is no count"),
        pytest.param({"count": 0}, 1, id="code: count 0 without an interval is one"),
        pytest.param({"interval": "1m", "count": "{{args.n}}"}, 5, id="code: count from an arg, IntOrString"),
    ],
)
def test_effective_count_matches_upstream(fields: dict[str, Any], effective: int | None) -> None:
    assert MetricSpec.from_template({"name": "m", **fields}, {"n": "5"}).effective_count() == effective


def test_from_template_parses_durations_and_applies_upstreams_defaults() -> None:
    spec = MetricSpec.from_template(
        {"name": "m", "interval": "2m30s", "initialDelay": "{{args.d}}"}, {"d": "30s"}
    )
    assert (spec.interval_seconds, spec.initial_delay_seconds) == (150.0, 30.0)
    assert (spec.failure_limit, spec.inconclusive_limit, spec.consecutive_error_limit) == (0, 0, 4)
    assert (spec.consecutive_success_limit, spec.success_condition, spec.count) == (0, None, None)
    with pytest.raises(ValueError, match="invalid duration"):
        MetricSpec.from_template({"name": "m", "interval": "60"}, {})  # time.ParseDuration: missing unit


# --- Not upstream: the dev environment's own analyses, with the args its Rollout passes ------------
Analysis = dict[str, Any]


@pytest.fixture(scope="module")
def dev() -> list[Manifest]:
    return environment_objects(REPO_ROOT, "dev")


def analyses(dev: list[Manifest]) -> dict[str, Analysis]:
    canary = next(m for m in dev if m["kind"] == "Rollout")["spec"]["strategy"]["canary"]
    return {
        "Background": canary["analysis"],
        "Step": next(s["analysis"] for s in canary["steps"] if "analysis" in s),
    }


def specs_of(dev: list[Manifest], analysis: Analysis) -> list[MetricSpec]:
    """The run's metrics: template arg defaults, then the Rollout's args (utils/analysis MergeArgs);
    `valueFrom` args (the pod-template hash, the namespace) get stand-in values."""
    templates = {m["metadata"]["name"]: m["spec"] for m in dev if m["kind"] == "AnalysisTemplate"}
    specs = []
    for ref in analysis["templates"]:
        template = templates[ref["templateName"]]
        args = {a["name"]: str(a["value"]) for a in template.get("args", []) if "value" in a}
        args |= {a["name"]: str(a.get("value", f"stand-in-{a['name']}")) for a in analysis.get("args", [])}
        specs += [MetricSpec.from_template(m, args) for m in template["metrics"]]
    return specs


def run_phase(specs: list[MetricSpec], measurements: dict[str, list[str]]) -> str:
    """Each metric's measurements, one reconcile each, the assessed metric phase recorded as the
    controller records it; then the run's phase."""
    results = {spec.name: MetricResult(spec.name) for spec in specs}
    for spec in specs:
        for phase in measurements.get(spec.name, []):
            result = record(spec, results[spec.name], phase)
            results[spec.name] = replace(result, phase=assess_metric(spec, result))
    return assess_run(specs, list(results.values()))


def test_dev_analyses_parse_with_the_args_the_rollout_passes(dev: list[Manifest]) -> None:
    for run_type, analysis in analyses(dev).items():
        specs = specs_of(dev, analysis)
        assert specs, run_type
        # The paired model-quality check is a job metric: one Job per run, no result, no conditions.
        jobs = [spec for spec in specs if spec.name == "paired-check"]
        assert all(spec.effective_count() == 1 and spec.success_condition is None for spec in jobs), jobs
        for spec in (spec for spec in specs if spec not in jobs):
            assert spec.success_condition, spec
            assert spec.failure_condition, spec
            assert spec.interval_seconds == 60.0, spec
            assert spec.consecutive_error_limit == 4, spec


def test_dev_background_run_guards_until_promotion_and_the_step_run_ends(dev: list[Manifest]) -> None:
    runs = analyses(dev)
    background = {spec.name: spec.effective_count() for spec in specs_of(dev, runs["Background"])}
    # The SLO metrics measure until promotion; the live model-quality ones stop after the checks
    # their false-abort budget covers (platform/slo/slos.yaml quality.live.max_checks).
    assert background == {"error-rate": None, "latency-p99": None, "class-mix": 84, "confidence": 84}
    assert all(spec.effective_count() for spec in specs_of(dev, runs["Step"]))


def test_dev_step_run_passes_clean_measurements_and_a_prometheus_outage_aborts(dev: list[Manifest]) -> None:
    specs = specs_of(dev, analyses(dev)["Step"])
    clean = {spec.name: [S] * (spec.effective_count() or 0) for spec in specs}
    assert rollout_action("Step", run_phase(specs, clean)) == "continue"
    one_error = {spec.name: [E] for spec in specs}
    assert rollout_action("Step", run_phase(specs, one_error)) == "keep-running"  # retried, not counted
    outage = {spec.name: [E] * (spec.consecutive_error_limit + 1) for spec in specs}
    assert run_phase(specs, outage) == E
    assert rollout_action("Step", run_phase(specs, outage)) == "abort"


def test_dev_background_run_aborts_one_failure_past_its_limit(dev: list[Manifest]) -> None:
    first, *others = specs_of(dev, analyses(dev)["Background"])
    specs, healthy = [first, *others], {spec.name: [S] for spec in others}
    within = healthy | {first.name: [F] * first.failure_limit}
    assert rollout_action("Background", run_phase(specs, within)) == "keep-running"
    past = healthy | {first.name: [F] * (first.failure_limit + 1)}
    assert rollout_action("Background", run_phase(specs, past)) == "abort"
