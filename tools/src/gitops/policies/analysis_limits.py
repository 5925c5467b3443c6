"""The canary analysis decides on measurements that passed (issue #13), as the AnalysisRun model
(gitops.analysis_model, argo-rollouts v1.8.3) computes it:

- no run ends Successful without one passing measurement, and an analysis that gates full
  promotion (a step's) ends Successful only if every measurement passed;
- a background analysis keeps guarding: failures can fail it, and it does not end Successful
  early (consecutiveSuccessLimit) while the rollout goes on; a template has a metric that counts
  (not all dry-run); a canary with steps has a step analysis, and no traffic step after its
  last one, since a background run the promotion terminates ends Successful even with no
  measurement at all;
- the conditions call every value a pass or a failure; only "no data" is neither.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Iterator
from typing import Any

from gitops.analysis_eval import condition_holds
from gitops.analysis_model import MetricResult, MetricSpec, assess_metric, measurement_phase, record
from gitops.policies.base import Context, Problem, policy
from gitops.render import Manifest, describe

TRAFFIC_STEPS = ("setWeight", "pause")  # steps that change or hold the canary's traffic
NUMBER = re.compile(r"(?<![\w.\]])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@policy("analysis-limits")
def analysis_decides_on_passing_measurements(context: Context) -> Iterator[Problem]:
    uses: dict[str, set[str]] = {"step": set(), "background": set()}
    for rollout in context.of_kind("Rollout"):
        canary = rollout.get("spec", {}).get("strategy", {}).get("canary") or {}
        steps = canary.get("steps") or []
        uses["background"] |= _templates(canary.get("analysis"))
        for step in steps:
            uses["step"] |= _templates(step.get("analysis"))
        analysed = [index for index, step in enumerate(steps) if "analysis" in step]
        after_last = steps[analysed[-1] + 1 :] if analysed else []
        unjudged = [name for step in after_last for name in step if name in TRAFFIC_STEPS]
        if steps and not analysed:
            message = (
                "its canary has no step analysis: the last pause ends in promotion whatever was measured "
                "(a background run the promotion terminates ends Successful, even with no measurement)"
            )
            yield Problem("analysis-limits", describe(rollout), message)
        elif unjudged:
            message = (
                f"its canary's last step analysis is followed by {', '.join(unjudged)}: the last pause "
                "ends in promotion whatever was measured after it (a background run the promotion "
                "terminates ends Successful, even with no measurement)"
            )
            yield Problem("analysis-limits", describe(rollout), message)
    for template in context.of_kind("AnalysisTemplate"):
        yield from _template_problems(template, uses)


def _templates(analysis: dict[str, Any] | None) -> set[str]:
    return {str(ref.get("templateName")) for ref in (analysis or {}).get("templates", [])}


def _template_problems(template: Manifest, uses: dict[str, set[str]]) -> Iterator[Problem]:
    name = template["metadata"]["name"]
    spec_ = template.get("spec", {})
    args = {a["name"]: str(a.get("value", "x")) for a in spec_.get("args", [])}
    dry_run = {rule.get("metricName", "") for rule in spec_.get("dryRun", [])}
    specs = []
    for metric in spec_.get("metrics", []):
        subject = f"AnalysisTemplate/{name} metric {metric.get('name')}"
        try:
            spec = MetricSpec.from_template(metric, args, dry_run)
            # A job metric's verdict is its Job's (job.go:186-195): no result, no conditions.
            conditions = [] if "job" in metric.get("provider", {}) else list(_condition_problems(spec))
            messages = [*conditions, *_limit_problems(spec, name, uses)]
        except ValueError as error:  # an interval Go would not parse, a condition this model cannot read
            messages = [f"cannot be checked: {error}"]
            spec = None
        if spec is not None:
            specs.append(spec)
        yield from (Problem("analysis-limits", subject, message) for message in messages)
    if specs and all(spec.dry_run for spec in specs):
        message = "every metric is dry-run: its runs end Successful whatever they measure"
        yield Problem("analysis-limits", f"AnalysisTemplate/{name}", message)


def _limit_problems(spec: MetricSpec, template: str, uses: dict[str, set[str]]) -> Iterator[str]:
    if spec.effective_count() is None:  # measures until the rollout ends
        if template in uses["background"] and spec.failure_limit < 0:
            yield "failureLimit is negative: failed measurements never fail the run"
        if template in uses["background"] and spec.consecutive_success_limit > 0:
            yield (
                f"consecutiveSuccessLimit {spec.consecutive_success_limit} ends the run Successful after "
                "that many passes, and it stops guarding the rest of the rollout"
            )
        return
    passes = _successful_endings(spec)
    if any(not saw_success for saw_success, _ in passes):
        yield "its limits let a run end Successful without one passing measurement"
    if template in uses["step"] and any(saw_other for _, saw_other in passes):
        yield (
            "it gates full promotion, yet its limits let a run end Successful after a failed or "
            "inconclusive measurement"
        )


def _successful_endings(spec: MetricSpec) -> frozenset[tuple[bool, bool]]:
    """As `_endings`, for the limits alone: metrics that differ only by name share the answer."""
    return _endings(dataclasses.replace(spec, name=""))


@functools.cache  # a count of 84 makes thousands of states; every environment asks again
def _endings(spec: MetricSpec) -> frozenset[tuple[bool, bool]]:
    """For every sequence of measurement phases that ends the metric Successful: (whether one
    was Successful, whether one was Failed or Inconclusive). An Error is no measurement upstream:
    it is retried and not counted (analysis.go runMeasurements). Explored over the model's
    counters, so it is finite."""
    found: set[tuple[bool, bool]] = set()
    seen: set[tuple[object, ...]] = set()
    pending = [(MetricResult(spec.name), False, False)]
    while pending:
        result, saw_success, saw_other = pending.pop()
        key = (result.count, result.successful, result.failed, result.inconclusive, result.consecutive_error,
               result.consecutive_success, saw_success, saw_other)  # fmt: skip
        if key in seen:
            continue
        seen.add(key)
        for phase in ("Successful", "Failed", "Inconclusive", "Error"):
            after = record(spec, result, phase)
            verdict = assess_metric(spec, after)
            flags = (saw_success or phase == "Successful", saw_other or phase in {"Failed", "Inconclusive"})
            if verdict == "Successful":
                found.add(flags)
            elif verdict == "Running":
                pending.append((after, *flags))
    return frozenset(found)


def _condition_problems(spec: MetricSpec) -> Iterator[str]:
    """Every number a condition compares with, and values just either side of it: each must be
    exactly one of pass or fail; no data (an empty or NaN result) must not pass."""
    ordered = (spec.success_condition, spec.failure_condition)
    numbers = sorted({float(n) for condition in ordered if condition for n in NUMBER.findall(condition)})
    samples = {f"{v:g}": v for v in (0.0, -1.0, 1e9)}
    for n in numbers:
        step = abs(n) * 1e-9 + 1e-9
        samples |= {f"just below {n:g}": n - step, f"{n:g}": n, f"just above {n:g}": n + step}
    for label, value in samples.items():
        holds = [condition_holds(condition, [value]) if condition else None for condition in ordered]
        if holds == [True, True]:
            yield f"{label} both passes and fails: the conditions overlap"
        elif holds == [False, False]:
            yield f"{label} neither passes nor fails: the conditions leave a gap besides no data"
    for empty in ([], [math.nan]):
        try:
            if measurement_phase(spec, empty) == "Successful":
                yield f"no data ({empty}) passes"
        except ValueError:
            continue  # an unguarded condition on no data: the `analysis` policy's concern
