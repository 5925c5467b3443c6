"""The condition evaluator the drill uses agrees with Argo Rollouts' semantics."""

from __future__ import annotations

import math

import pytest

from gitops.analysis_eval import phase, render_args

GUARD = "len(result) > 0 && !isNaN(result[0])"
METRIC = {
    "successCondition": f"{GUARD} && result[0] <= 0.0144",
    "failureCondition": f"{GUARD} && result[0] > 0.0144",
}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([0.0], "Successful"),
        ([0.01], "Successful"),
        ([0.05], "Failed"),
        ([], "Inconclusive"),
        ([math.nan], "Inconclusive"),
    ],
)
def test_guarded_conditions(result: list[float], expected: str) -> None:
    assert phase(METRIC, result) == expected


def test_an_unguarded_condition_is_an_error_on_empty_results_as_in_argo() -> None:
    with pytest.raises(IndexError):  # argo-rollouts #1466: "reflect: slice index out of range"
        phase({"successCondition": "result[0] <= 0.01"}, [])


def test_success_only_fails_when_not_met() -> None:
    assert phase({"successCondition": "result[0] <= 1"}, [2.0]) == "Failed"


def test_unsupported_syntax_is_refused() -> None:
    with pytest.raises(ValueError, match="does not support"):
        phase({"successCondition": "result[0] <= 1; import os"}, [0.0])


def test_args_are_substituted() -> None:
    assert render_args('x{hash="{{args.canary-hash}}"}', {"canary-hash": "abc"}) == 'x{hash="abc"}'


def test_no_condition_at_all_is_successful_as_in_argo() -> None:
    # utils/evaluate/evaluate.go EvaluateResult: "Always return success unless there is an error"
    assert phase({}, [0.5]) == "Successful"


def test_a_condition_that_is_not_a_bool_is_an_error_as_in_argo() -> None:
    with pytest.raises(TypeError, match="expected bool, but got int"):  # EvalCondition
        phase({"successCondition": "len(result)"}, [0.5])


def test_expr_literals_are_understood() -> None:
    assert phase({"successCondition": "true", "failureCondition": "false"}, []) == "Successful"
