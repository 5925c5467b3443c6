"""Evaluate an AnalysisTemplate metric the way Argo Rollouts does, outside a cluster.

The conditions use the small subset of the expr language the generator writes
(`len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.0144`); it is translated to Python
and evaluated with nothing but `result`, `len` and `isNaN` in scope. The phase follows
argo-rollouts v1.8.3 utils/evaluate/evaluate.go EvaluateResult: failure wins, then success;
both false is Inconclusive; no condition at all is Successful.
"""

from __future__ import annotations

import math
import re
from typing import Any

_ALLOWED = re.compile(r"^[\sa-zA-Z0-9_.\[\]()<>=!&|+\-*/]*$")
_LITERALS = {"true": "True", "false": "False"}


class UnsupportedCondition(ValueError):
    """The condition uses expr syntax this evaluator does not translate: a limit of this model,
    not a measurement Error, so callers must not turn it into one."""


def _python(condition: str) -> str:
    if not _ALLOWED.match(condition):
        raise UnsupportedCondition(f"condition uses syntax this evaluator does not support: {condition!r}")
    translated = condition.replace("&&", " and ").replace("||", " or ")
    translated = re.sub(r"!(?!=)", " not ", translated)
    return re.sub(r"\b(true|false)\b", lambda m: _LITERALS[m.group(1)], translated)


def condition_holds(condition: str, result: list[float]) -> bool:
    """True or False; anything else raises, as upstream's EvalCondition ("expected bool, but got int")."""
    scope: dict[str, Any] = {"__builtins__": {}, "result": result, "len": len, "isNaN": math.isnan}
    value = eval(_python(condition), scope)
    if not isinstance(value, bool):
        raise TypeError(f"expected bool, but got {type(value).__name__}")
    return value


def evaluate_result(success: str | None, failure: str | None, result: list[float]) -> str:
    """Successful, Failed or Inconclusive; an evaluation error propagates (upstream: the Error phase).

    utils/evaluate/evaluate.go EvaluateResult: with only a success condition a measurement that does
    not meet it is Failed; with only a failure condition one that does not meet it is Successful.
    """
    succeeded = condition_holds(success, result) if success else False
    failed = condition_holds(failure, result) if failure else False
    if not success and not failure:
        return "Successful"
    if success and not failure:
        failed = not succeeded
    if failure and not success:
        succeeded = not failed
    if failed:
        return "Failed"
    return "Successful" if succeeded else "Inconclusive"


def phase(metric: dict[str, Any], result: list[float]) -> str:
    """Successful, Failed or Inconclusive for one measurement of an AnalysisTemplate metric."""
    return evaluate_result(metric.get("successCondition"), metric.get("failureCondition"), result)


def render_args(text: str, args: dict[str, str]) -> str:
    """Substitute `{{args.name}}` as Argo Rollouts does."""
    return re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: args[m.group(1)], text)
