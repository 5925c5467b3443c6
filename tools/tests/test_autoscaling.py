"""The fallback rule is KEDA's own check: every case of TestCheckFallbackValid in kedacore/keda
v2.17.2 apis/keda/v1alpha1/scaledobject_types_test.go, by its name, with the text its error must
contain."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.policies.autoscaling import fallback_error

FALLBACK = {"failureThreshold": 3, "replicas": 1}
MUST_BE_AVERAGE = "type for the fallback to be enabled"
NOT_NEGATIVE = "must both be greater than or equal to 0"

# (upstream case name, spec, error text or None)
UPSTREAM_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("No fallback configured", {"triggers": [{"type": "couchdb"}]}, None),
    (
        "Explicit AverageValue metricType - valid",
        {"fallback": FALLBACK, "triggers": [{"type": "couchdb", "metricType": "AverageValue"}]},
        None,
    ),
    (
        "Implicit AverageValue metricType (empty string) - valid",
        {"fallback": FALLBACK, "triggers": [{"type": "couchdb", "metricType": ""}]},
        None,
    ),
    (
        "Value metricType - invalid",
        {"fallback": FALLBACK, "triggers": [{"type": "couchdb", "metricType": "Value"}]},
        MUST_BE_AVERAGE,
    ),
    (
        "Multiple triggers with one valid AverageValue - valid",
        {
            "fallback": FALLBACK,
            "triggers": [
                {"type": "prometheus", "metricType": "Value"},
                {"type": "couchdb", "metricType": "AverageValue"},
            ],
        },
        None,
    ),
    (
        "CPU trigger - invalid",
        {"fallback": FALLBACK, "triggers": [{"type": "cpu", "metricType": "AverageValue"}]},
        MUST_BE_AVERAGE,
    ),
    (
        "Memory trigger - invalid",
        {"fallback": FALLBACK, "triggers": [{"type": "memory", "metricType": "AverageValue"}]},
        MUST_BE_AVERAGE,
    ),
    (
        "Multiple triggers with one CPU and one valid - valid",
        {
            "fallback": FALLBACK,
            "triggers": [
                {"type": "cpu", "metricType": "Utilization"},
                {"type": "couchdb", "metricType": "AverageValue"},
            ],
        },
        None,
    ),
    (
        "Negative FailureThreshold - invalid",
        {
            "fallback": {"failureThreshold": -1, "replicas": 1},
            "triggers": [{"type": "couchdb", "metricType": "AverageValue"}],
        },
        NOT_NEGATIVE,
    ),
    (
        "Negative Replicas - invalid",
        {
            "fallback": {"failureThreshold": 3, "replicas": -1},
            "triggers": [{"type": "couchdb", "metricType": "AverageValue"}],
        },
        NOT_NEGATIVE,
    ),
    (
        "Using ScalingModifiers with AverageValue MetricType - valid",
        {
            "fallback": FALLBACK,
            "advanced": {"scalingModifiers": {"metricType": "AverageValue", "formula": "x * 2"}},
            "triggers": [{"type": "couchdb"}],
        },
        None,
    ),
    (
        "Using ScalingModifiers with Value MetricType - invalid",
        {
            "fallback": FALLBACK,
            "advanced": {"scalingModifiers": {"metricType": "Value", "formula": "x * 2"}},
            "triggers": [{"type": "couchdb"}],
        },
        "ScaledObject.Spec.Advanced.ScalingModifiers.MetricType must be AverageValue",
    ),
]


@pytest.mark.parametrize(("name", "spec", "error"), UPSTREAM_CASES, ids=[case[0] for case in UPSTREAM_CASES])
def test_fallback_is_checked_as_keda_checks_it(name: str, spec: dict[str, Any], error: str | None) -> None:
    found = fallback_error({"kind": "ScaledObject", "metadata": {"name": "x"}, "spec": spec})
    if error is None:
        assert found is None, name
    else:
        assert found is not None, name
        assert error in found, (name, found)
