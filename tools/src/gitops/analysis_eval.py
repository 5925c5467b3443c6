"""Evaluate an AnalysisTemplate metric the way Argo Rollouts does, outside a cluster.

The conditions use the small subset of the expr language the generator writes
(`len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.0144`); it is translated to Python
and evaluated with nothing but `result`, `len` and `isNaN` in scope. The phase follows
argo-rollouts utils/evaluate: failure wins, then success; neither is Inconclusive.
"""

from __future__ import annotations

import math
import re
from typing import Any

_ALLOWED = re.compile(r"^[\sa-zA-Z0-9_.\[\]()<>=!&|+\-*/]*$")


def _python(condition: str) -> str:
    if not _ALLOWED.match(condition):
        raise ValueError(f"condition uses syntax this evaluator does not support: {condition!r}")
    translated = condition.replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", " not ", translated)


def condition_holds(condition: str, result: list[float]) -> bool:
    scope: dict[str, Any] = {"__builtins__": {}, "result": result, "len": len, "isNaN": math.isnan}
    return bool(eval(_python(condition), scope))


def phase(metric: dict[str, Any], result: list[float]) -> str:
    """Successful, Failed or Inconclusive for one measurement."""
    success, failure = metric.get("successCondition"), metric.get("failureCondition")
    failed = condition_holds(failure, result) if failure else False
    succeeded = condition_holds(success, result) if success else False
    if success and not failure:
        failed = not succeeded
    if failure and not success:
        succeeded = not failed
    if failed:
        return "Failed"
    return "Successful" if succeeded else "Inconclusive"


def render_args(text: str, args: dict[str, str]) -> str:
    """Substitute `{{args.name}}` as Argo Rollouts does."""
    return re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: args[m.group(1)], text)
