"""A KEDA fallback the admission webhook accepts: without it the ScaledObject is refused and the
environment's sync fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gitops.policies.base import Context, Problem, policy
from gitops.render import Manifest, describe


def fallback_error(scaled_object: Manifest) -> str | None:
    """KEDA v2.17.2's CheckFallbackValid (apis/keda/v1alpha1/scaledobject_types.go), which the
    webhook runs on every create and update (scaledobject_webhook.go verifyFallback): the
    fallback's numbers are not negative, and it replaces an AverageValue metric, so at least one
    trigger other than cpu or memory is AverageValue (the default when metricType is empty), or
    the scaling modifiers' formula is not of type Value."""
    spec: dict[str, Any] = scaled_object.get("spec") or {}
    fallback = spec.get("fallback")
    if fallback is None:
        return None
    threshold, replicas = int(fallback.get("failureThreshold", 0)), int(fallback.get("replicas", 0))
    if threshold < 0 or replicas < 0:
        return f"FailureThreshold={threshold} & Replicas={replicas} must both be greater than or equal to 0"
    modifiers = (spec.get("advanced") or {}).get("scalingModifiers") or {}
    if modifiers:
        if modifiers.get("metricType") == "Value":
            return (
                "when using ScalingModifiers, ScaledObject.Spec.Advanced.ScalingModifiers.MetricType "
                "must be AverageValue to have fallback enabled"
            )
        return None
    if not any(
        trigger.get("type") not in {"cpu", "memory"}
        and (trigger.get("metricType") or "AverageValue") == "AverageValue"
        for trigger in spec.get("triggers") or []
    ):
        return (
            "at least one trigger (that is not cpu or memory) has to have the `AverageValue` type for the "
            "fallback to be enabled"
        )
    return None


@policy("autoscaler-fallback")
def fallback_is_accepted(context: Context) -> Iterator[Problem]:
    for scaled_object in context.of_kind("ScaledObject"):
        error = fallback_error(scaled_object)
        if error:
            yield Problem(
                "autoscaler-fallback",
                describe(scaled_object),
                f"KEDA's webhook refuses the fallback: {error}",
            )
