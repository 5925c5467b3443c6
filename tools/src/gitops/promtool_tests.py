"""Turn the alert scenarios (platform/alerts/tests/scenarios.yaml) into a `promtool test rules`
file: expected label sets come from the scenario, expected annotations are rendered from the
generated rules, so a test breaks when either the behaviour or the wording changes unseen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

SCENARIOS = Path("platform/alerts/tests/scenarios.yaml")
RULES = Path("platform/alerts/prometheusrule-classifier.yaml")
_LABEL = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")
_SCOPE = re.compile(r'\bnamespace(=~|!~|!=|=)"([^"]*)"')


def alert_variants(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Alert name -> its rules: one per objective (SLO alerts) or per severity (a page where the
    environment pages, a ticket elsewhere), the default or paging one first."""
    document = yaml.safe_load((root / RULES).read_text())
    variants: dict[str, list[dict[str, Any]]] = {}
    for group in document["spec"]["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                variants.setdefault(rule["alert"], []).append(rule)
    return variants


def alert_rules(root: Path) -> dict[str, dict[str, Any]]:
    """Alert name -> its default rule (the first variant)."""
    return {name: rules[0] for name, rules in alert_variants(root).items()}


def rule_for(variants: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    """The variant whose scope (the first namespace matcher of its expression; none: every
    namespace) selects this namespace: an objective per environment, a page or a ticket."""
    namespace = labels.get("namespace", "")
    for rule in variants:
        if covers(rule, namespace):
            return rule
    raise ValueError(f"no variant of {variants[0]['alert']} covers namespace {namespace!r}")


def covers(rule: dict[str, Any], namespace: str) -> bool:
    """Whether the rule's scope (the first namespace matcher of its expression; none: every
    namespace) selects this namespace."""
    scope = _SCOPE.search(rule["expr"])
    return scope is None or _selects(scope.group(1), scope.group(2), namespace)


def _selects(operator: str, value: str, namespace: str) -> bool:
    """A PromQL label matcher on one value (regular expressions are anchored, as in PromQL)."""
    if operator in {"=~", "!~"}:
        return (re.fullmatch(value, namespace) is not None) == (operator == "=~")
    return (namespace == value) == (operator == "=")


def _render(template: str, labels: dict[str, str]) -> str:
    return _LABEL.sub(lambda match: labels.get(match.group(1), ""), template)


def promtool_test_file(root: Path, rule_file: str) -> dict[str, Any]:
    variants = alert_variants(root)
    scenarios = yaml.safe_load((root / SCENARIOS).read_text())
    tests = []
    for scenario in scenarios:
        checks = []
        for check in scenario["checks"]:
            expected = []
            for fired in check["fires"]:
                rule = rule_for(variants[check["alert"]], {k: str(v) for k, v in fired.items()})
                labels = {k: str(v) for k, v in fired.items()} | {
                    k: str(v) for k, v in rule["labels"].items()
                }
                annotations = {k: _render(v, labels) for k, v in rule["annotations"].items()}
                expected.append({"exp_labels": labels, "exp_annotations": annotations})
            checks.append({"eval_time": check["at"], "alertname": check["alert"], "exp_alerts": expected})
        tests.append(
            {
                "name": scenario["name"],
                "interval": scenario["interval"],
                "input_series": scenario["input_series"],
                "alert_rule_test": checks,
            }
        )
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def coverage(root: Path) -> dict[str, tuple[bool, bool]]:
    """For every alert: (has a scenario where it fires, has one where it must not)."""
    scenarios = yaml.safe_load((root / SCENARIOS).read_text())
    checks = [check for scenario in scenarios for check in scenario["checks"]]
    return {
        name: (
            any(c["alert"] == name and c["fires"] for c in checks),
            any(c["alert"] == name and not c["fires"] for c in checks),
        )
        for name in alert_rules(root)
    }
