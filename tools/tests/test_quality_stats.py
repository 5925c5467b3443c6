"""The model-quality statistic: the e-value is one (E[E] <= 1 under every null, by enumeration),
Stirling's series stays within the bound the threshold adds, and the generated PromQL, evaluated
by a real Prometheus engine (`promtool test rules`) on counter and histogram series labelled as
the service and the scrape write them, gives the Python value, or nothing under MIN."""

from __future__ import annotations

import itertools
import math
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.quality_stats import (
    CLASS_GROUPS,
    CONFIDENCE_BOUNDS,
    STIRLING_ERROR_PER_CATEGORY,
    Arms,
    class_group_query,
    confidence_query,
    log_e_value,
    promql_threshold,
    stirling_lgamma,
    stirling_log_e_value,
    threshold,
)

NAMESPACE = "classifier-prod"
CANARY, STABLE, OLD = "6f7d8c9b5", "5c4b7a8d9", "4a3b2c1d0"
ARMS = Arms(namespace=NAMESPACE, canary_hash=CANARY, stable_hash=STABLE)
WINDOW, MIN = "10m", 50
EVAL_MINUTE = 30  # the window is minutes 20-30


def test_e_value_has_expectation_at_most_one_under_every_null() -> None:
    """Given each category's total, every answer is the canary's with one probability: summed over
    every split, E's expectation is at most 1 (the universal-inference property)."""
    totals = {"a": 4, "b": 3, "c": 1}
    for rho in (0.05, 0.3, 0.5, 0.9):
        expectation = 0.0
        for split in itertools.product(*(range(n + 1) for n in totals.values())):
            canary = dict(zip(totals, split, strict=True))
            stable = {k: totals[k] - canary[k] for k in totals}
            probability = math.prod(
                math.comb(totals[k], canary[k]) * rho ** canary[k] * (1 - rho) ** stable[k] for k in totals
            )
            expectation += probability * math.exp(log_e_value(canary, stable))
        assert expectation <= 1 + 1e-12, rho


def test_log_e_is_the_beta_mixture_over_the_null_maximum_likelihood() -> None:
    canary, stable = {"a": 3, "b": 0}, {"a": 5, "b": 2}
    # B(c+1, s+1) = c! s! / (c+s+1)!; rho^ = C/N = 3/10
    mixture = (math.factorial(3) * math.factorial(5) / math.factorial(9)) * (1 / 3)
    null = 0.3**3 * 0.7**7
    assert log_e_value(canary, stable) == pytest.approx(math.log(mixture / null), rel=1e-12)


def test_categories_empty_in_both_arms_or_absent_count_nothing() -> None:
    canary, stable = {"00": 7, "17": 2}, {"00": 9, "31": 4}
    base = log_e_value(canary, stable)
    assert log_e_value(canary | {"63": 0}, stable | {"63": 0}) == pytest.approx(base, abs=1e-12)
    assert log_e_value(canary | {"31": 0}, stable | {"17": 0}) == pytest.approx(base, abs=1e-12)
    assert log_e_value(stable, canary) == pytest.approx(base, abs=1e-12)  # the arms are symmetric


def test_different_answers_give_a_large_e_and_alike_ones_a_small_one() -> None:
    alike = log_e_value({"00": 100, "17": 100}, {"00": 300, "17": 300})
    different = log_e_value({"00": 150, "17": 50}, {"00": 150, "17": 450})
    assert alike < 0 < threshold(42, 1 / 2000) < different


def test_stirling_is_never_above_lgamma_and_within_the_next_term() -> None:
    for x in [1 + i / 8 for i in range(80)] + [50.0, 1e3, 1e5]:
        error = math.lgamma(x) - stirling_lgamma(x)
        assert -1e-12 * max(1.0, abs(math.lgamma(x))) <= error <= 1 / (1260 * x**5) + 1e-12, x


def test_the_query_arithmetic_never_exceeds_the_exact_value_by_more_than_the_bound() -> None:
    rng = random.Random(16)
    for size in (0, 1, 3, 30, 3000):
        for _ in range(200):
            canary = {g: rng.randint(0, size) for g in CLASS_GROUPS if rng.random() < 0.7}
            stable = {g: rng.randint(0, 3 * size) for g in CLASS_GROUPS if rng.random() < 0.7}
            categories = len(set(canary) | set(stable))
            if not sum(canary.values()) or not sum(stable.values()):
                continue
            excess = stirling_log_e_value(canary, stable) - log_e_value(canary, stable)
            assert excess <= categories * STIRLING_ERROR_PER_CATEGORY + 1e-9
            assert excess >= -categories * 2 / 1260 - 1e-9  # and never far below it either


def test_threshold_is_bonferroni_over_the_checks() -> None:
    assert threshold(42, 1 / 2000) == pytest.approx(math.log(84_000))
    assert promql_threshold(42, 1 / 2000, 65) == pytest.approx(
        math.log(84_000) + 65 * STIRLING_ERROR_PER_CATEGORY
    )
    for checks, alpha in ((0, 0.01), (10, 0.0), (10, 1.0)):
        with pytest.raises(ValueError, match="checks"):
            threshold(checks, alpha)


def test_min_predictions_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_predictions"):
        class_group_query(WINDOW, 0, ARMS)


# Per pod: (hash, name, version, per-minute answers by class group, per-minute answers by
# confidence bin, first minute). The canary answers a group stable never does ("52") and never
# answers one stable does ("31"); "63" exists at 0 in both (the service creates every reachable
# group's series at start); the second canary pod starts inside the window. An old ReplicaSet's
# pod and a canary in another namespace answer very differently and must be left out.
Pod = tuple[str, str, str, dict[str, int], tuple[int, ...], int]
LITE0, LITE2 = ("efficientnet-lite0", "1"), ("efficientnet-lite2", "2")
HEALTHY: dict[str, Pod] = {
    "classifier-5c4b7a8d9-x2k4p": (STABLE, *LITE0, {"00": 2, "17": 5, "31": 1, "45": 3, "63": 0, "other": 0},
                                   (0, 0, 1, 1, 1, 1, 2, 2, 1, 1, 1, 0), 0),
    "classifier-5c4b7a8d9-q8w7e": (STABLE, *LITE0, {"00": 1, "17": 6, "31": 2, "45": 2, "63": 0, "other": 0},
                                   (0, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0), 0),
    "classifier-6f7d8c9b5-m3n5b": (CANARY, *LITE2, {"00": 1, "17": 4, "45": 0, "52": 2, "63": 0},
                                   (0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1), 15),
    "classifier-6f7d8c9b5-t6y9u": (CANARY, *LITE2, {"00": 2, "17": 3, "45": 1, "52": 1, "63": 0},
                                   (0, 0, 0, 0, 0, 1, 0, 1, 2, 1, 1, 1), 25),
    "classifier-4a3b2c1d0-a1s2d": (OLD, *LITE0, {"05": 40, "17": 1}, (20,) + (0,) * 10 + (21,), 0),
}  # fmt: skip
ELSEWHERE = (
    "classifier-staging",
    "classifier-6f7d8c9b5-z0x9c",
    (CANARY, *LITE2, {"05": 30}, (30,) + (0,) * 11, 0),
)
# The same, with the canary answering two a minute: 30 in the window, under MIN.
QUIET_CANARY: dict[str, Pod] = {
    name: (pod if pod[0] != CANARY else (*pod[:3], {"17": 1, "52": 1}, (0,) * 10 + (1, 1), pod[5]))
    for name, pod in HEALTHY.items()
}


def _series(pods: dict[str, Pod]) -> list[dict[str, str]]:
    """Counters from 0 at each pod's start, one sample a minute, labelled as the scrape labels them."""
    series = []
    placements = [(NAMESPACE, name, pod) for name, pod in pods.items()] + [ELSEWHERE]
    for number, (namespace, pod_name, (hash_, name, version, groups, bins, start)) in enumerate(placements):
        target = (
            f'namespace="{namespace}",pod="{pod_name}",container="classifier",service="classifier",'
            f'endpoint="metrics",job="classifier",instance="10.0.1.{number}:9090",'
            f'rollouts_pod_template_hash="{hash_}",name="{name}",version="{version}"'
        )
        assert sum(groups.values()) == sum(bins), pod_name

        def counter(series_name: str, per_minute: int, start: int = start) -> dict[str, str]:
            before = f"_x{start} " if start else ""
            return {"series": series_name, "values": f"{before}0+{per_minute}x{50 - start}"}

        for group, rate in groups.items():
            series.append(counter(f'classifier_predictions_total{{{target},class_group="{group}"}}', rate))
        for bound, cumulative in zip(CONFIDENCE_BOUNDS, itertools.accumulate(bins), strict=True):
            series.append(
                counter(f'classifier_prediction_confidence_bucket{{{target},le="{bound}"}}', cumulative)
            )
        series.append(counter(f"classifier_prediction_confidence_count{{{target}}}", sum(bins)))
    return series


def _window_counts(pods: dict[str, Pod], confidence: bool) -> tuple[dict[str, float], dict[str, float]]:
    """(canary, stable) answers per category in the window, as the pods' rates give them."""
    arms: dict[str, dict[str, float]] = {CANARY: {}, STABLE: {}}
    window_start = EVAL_MINUTE - 10
    for hash_, _, _, groups, bins, start in pods.values():
        if hash_ not in arms:
            continue
        minutes = EVAL_MINUTE - max(start, window_start)
        per_minute = dict(zip(CONFIDENCE_BOUNDS, bins, strict=True)) if confidence else groups
        for category, rate in per_minute.items():
            arms[hash_][category] = arms[hash_].get(category, 0) + rate * minutes
    return arms[CANARY], arms[STABLE]


RULES = {
    "quality:class_group_log_e": class_group_query(WINDOW, MIN, ARMS),
    "quality:confidence_log_e": confidence_query(WINDOW, MIN, ARMS),
    "quality:class_group_log_e_scaled": class_group_query(WINDOW, MIN, ARMS, scrape_interval="1m"),
}


def _promtool_tests(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/system-packages.sh installs it (make system-packages)"
    rules = {"groups": [{"name": "quality", "rules": [{"record": r, "expr": e} for r, e in RULES.items()]}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )


def _close_to(expr: str, value: float, tolerance: float) -> dict[str, Any]:
    """A check that `expr` is within `tolerance` of `value` (promtool compares exact floats)."""
    return {
        "expr": f"abs({expr} - {value!r}) <= bool {tolerance!r}",
        "eval_time": f"{EVAL_MINUTE}m",
        "exp_samples": [{"labels": "{}", "value": 1}],
    }


def _at_most(expr: str, value: float) -> dict[str, Any]:
    return {
        "expr": f"{expr} <= bool {value!r}",
        "eval_time": f"{EVAL_MINUTE}m",
        "exp_samples": [{"labels": "{}", "value": 1}],
    }


def test_prometheus_computes_the_python_value_on_series_as_the_service_exports_them(tmp_path: Path) -> None:
    checks = []
    for rule, confidence in (("quality:class_group_log_e", False), ("quality:confidence_log_e", True)):
        canary, stable = _window_counts(HEALTHY, confidence)
        # Class groups one arm never answered in have no series there; every bucket always has one,
        # and bins one arm left empty are 0 there.
        assert any(canary.get(k, 0) == 0 < stable.get(k, 0) for k in stable), rule
        assert any(stable.get(k, 0) == 0 < canary.get(k, 0) for k in canary), rule
        categories = len(set(canary) | set(stable))
        assert min(sum(canary.values()), sum(stable.values())) >= MIN
        exact = log_e_value(canary, stable)
        checks.append(_close_to(rule, stirling_log_e_value(canary, stable), 1e-9 * max(1.0, abs(exact))))
        checks.append(_at_most(rule, exact + categories * STIRLING_ERROR_PER_CATEGORY))
    # Scaled back from increase()'s extrapolation, for a 1m scrape: 9 of every 10 answers.
    canary, stable = _window_counts(HEALTHY, confidence=False)
    scaled = stirling_log_e_value(
        {k: v * 0.9 for k, v in canary.items()}, {k: v * 0.9 for k, v in stable.items()}
    )
    checks.append(_close_to("quality:class_group_log_e_scaled", scaled, 1e-9 * abs(scaled)))
    result = _promtool_tests(
        tmp_path, [{"interval": "1m", "input_series": _series(HEALTHY), "promql_expr_test": checks}]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_different_canary_scores_above_the_threshold_in_prometheus(tmp_path: Path) -> None:
    limit = promql_threshold(42, 1 / 2000, len(CLASS_GROUPS))
    canary, stable = _window_counts(HEALTHY, confidence=False)
    assert log_e_value(canary, stable) > limit
    checks = [
        {
            "expr": f"quality:class_group_log_e > bool {limit!r}",
            "eval_time": f"{EVAL_MINUTE}m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        }
    ]
    result = _promtool_tests(
        tmp_path, [{"interval": "1m", "input_series": _series(HEALTHY), "promql_expr_test": checks}]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "pods",
    [
        pytest.param(QUIET_CANARY, id="canary-under-min"),
        pytest.param({k: v for k, v in HEALTHY.items() if v[0] != STABLE}, id="no-stable"),
        pytest.param({k: v for k, v in HEALTHY.items() if v[0] != CANARY}, id="no-canary"),
    ],
)
def test_too_few_answers_give_no_result_never_a_pass(tmp_path: Path, pods: dict[str, Pod]) -> None:
    checks: list[dict[str, Any]] = [
        {"expr": rule, "eval_time": f"{EVAL_MINUTE}m", "exp_samples": []}
        for rule in ("quality:class_group_log_e", "quality:confidence_log_e")
    ]
    result = _promtool_tests(
        tmp_path, [{"interval": "1m", "input_series": _series(pods), "promql_expr_test": checks}]
    )
    assert result.returncode == 0, result.stdout + result.stderr
