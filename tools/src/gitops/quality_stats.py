"""The model-quality canary's statistic: does the canary answer like stable, over the same window?

Counts per category k (a class group, or a confidence bin) in one window: canary c_k, stable
s_k, totals C, S, N = C + S. If the two arms run the same model, then given each category's total
every answer came from the canary with one probability rho (its traffic share), whatever the
category. The universal-inference e-value (Wasserman, Ramdas, Balakrishnan 2020,
https://arxiv.org/abs/1912.11436) compares an alternative with a share per category (each mixed
over Beta(1, 1)) with the null's maximum likelihood (rho^ = C/N):

    log E = sum_k [lgamma(c_k+1) + lgamma(s_k+1) - lgamma(n_k+2)] - (C ln C + S ln S - N ln N)

E[E] <= 1 under every null, so P(E >= checks/alpha) <= alpha/checks per check, and a rollout of
`checks` checks aborts a healthy release with probability at most alpha (Bonferroni). A category
empty in both arms contributes 0.

PromQL has no lgamma: the queries use Stirling's series. The most it can raise log E
(STIRLING_ERROR_PER_CATEGORY per category) is added to the threshold (promql_threshold), so a query
never aborts where the exact statistic would not. The queries return no result (Inconclusive)
while either arm has fewer than `min_predictions` answers in the window; the caller's conditions
are `result[0] < promql_threshold(...)` for success and `>=` for failure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from gitops.durations import prometheus_duration_seconds

PREDICTIONS = "classifier_predictions_total"
CONFIDENCE_BUCKET = "classifier_prediction_confidence_bucket"
# classifier_predictions_total's class_group values: canonical ImageNet index * 64 // 1000, and
# "other" for a label outside ImageNet-1k (services/classifier/src/classifier/class_groups.py).
CLASS_GROUPS = (*(f"{group:02d}" for group in range(64)), "other")
# classifier_prediction_confidence's bucket bounds, as prometheus_client writes `le`.
CONFIDENCE_BOUNDS = ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "0.95", "0.99", "+Inf")

_HALF_LN_2PI = 0.5 * math.log(2 * math.pi)
# Stirling's series for lgamma(x), x > 0, truncated after 1/(360x^3): the remainder lies between 0
# and the first omitted term, 1/(1260x^5) (DLMF 5.11.ii), so the series never exceeds lgamma. Of a
# category's three terms only -lgamma(n_k+2) can raise the query's log E, by at most
# 1/(1260 (n_k+2)^5) <= 1/(1260 * 2^5): the most the query can exceed the exact value per category.
STIRLING_ERROR_PER_CATEGORY = 1 / (1260 * 2**5)


@dataclass(frozen=True, slots=True)
class Arms:
    """Which series are the canary's and which stable's; the defaults are Argo Rollouts' args."""

    namespace: str = "{{args.namespace}}"
    canary_hash: str = "{{args.canary-hash}}"
    stable_hash: str = "{{args.stable-hash}}"

    def canary(self) -> str:
        return f'namespace="{self.namespace}",rollouts_pod_template_hash="{self.canary_hash}"'

    def both(self) -> str:
        hashes = f"{self.canary_hash}|{self.stable_hash}"
        return f'namespace="{self.namespace}",rollouts_pod_template_hash=~"{hashes}"'

    def split(self, vector: str) -> str:
        """The canary's series of `vector` labelled arm="canary"; stable's keep no arm label."""
        return f'label_replace({vector}, "arm", "canary", "rollouts_pod_template_hash", "{self.canary_hash}")'


def log_e_value(canary: Mapping[str, float], stable: Mapping[str, float]) -> float:
    """The exact log E of one window's counts per category (a category missing from one arm
    counts 0 there)."""
    numerator = 0.0
    for category in set(canary) | set(stable):
        c, s = canary.get(category, 0.0), stable.get(category, 0.0)
        numerator += math.lgamma(c + 1) + math.lgamma(s + 1) - math.lgamma(c + s + 2)
    total_c, total_s = sum(canary.values()), sum(stable.values())
    return numerator - (_xlnx(total_c) + _xlnx(total_s) - _xlnx(total_c + total_s))


def threshold(checks: int, alpha: float) -> float:
    """The log E at which one check of `checks` aborts, for at most `alpha` false aborts per rollout."""
    if checks < 1 or not 0 < alpha < 1:
        raise ValueError(f"need checks >= 1 and 0 < alpha < 1, got {checks} and {alpha}")
    return math.log(checks / alpha)


def promql_threshold(checks: int, alpha: float, categories: int) -> float:
    """threshold() plus the most Stirling's series can add to the query's log E over `categories`."""
    return threshold(checks, alpha) + categories * STIRLING_ERROR_PER_CATEGORY


def stirling_lgamma(x: float) -> float:
    """lgamma(x) as the queries compute it (x >= 1)."""
    return (x - 0.5) * math.log(x) - x + _HALF_LN_2PI + 1 / (12 * x) - 1 / (360 * x**3)


def stirling_log_e_value(canary: Mapping[str, float], stable: Mapping[str, float]) -> float:
    """log_e_value() computed as the queries compute it: the Python mirror of their arithmetic."""
    numerator = 0.0
    for category in set(canary) | set(stable):
        c, s = canary.get(category, 0.0), stable.get(category, 0.0)
        numerator += stirling_lgamma(c + 1) + stirling_lgamma(s + 1) - stirling_lgamma(c + s + 2)
    total_c, total_s = sum(canary.values()), sum(stable.values())
    return numerator - (_xlnx_clamped(total_c) + _xlnx_clamped(total_s) - _xlnx_clamped(total_c + total_s))


def class_group_query(
    window: str, min_predictions: int, arms: Arms = Arms(), scrape_interval: str | None = None
) -> str:
    """log E of the answers' class groups in the last `window`; no result (Inconclusive) while
    either arm has fewer than `min_predictions` answers in it."""
    scale = _counts_scale(window, scrape_interval)

    def counts(by: str, selector: str) -> str:
        return (
            f"sum by ({by}) ({_split(arms, by, f'increase({PREDICTIONS}{{{selector}}}[{window}])')}){scale}"
        )

    return _log_e_query(
        by_arm=counts("class_group, arm", arms.both()),
        by_category=counts("class_group", arms.both()),
        canary_total=f"sum(increase({PREDICTIONS}{{{arms.canary()}}}[{window}])){scale}",
        total=f"sum(increase({PREDICTIONS}{{{arms.both()}}}[{window}])){scale}",
        min_predictions=min_predictions,
    )


def confidence_query(
    window: str, min_predictions: int, arms: Arms = Arms(), scrape_interval: str | None = None
) -> str:
    """log E of the answers' top-1 confidence, binned by the histogram's buckets, in the last
    `window`; no result (Inconclusive) while either arm has fewer than `min_predictions` answers."""
    scale = _counts_scale(window, scrape_interval)

    def counts(by: str) -> str:
        def cumulative(matchers: str) -> str:
            selector = f"{CONFIDENCE_BUCKET}{{{arms.both()}{matchers}}}"
            return f"sum by ({by}) ({_split(arms, by, f'increase({selector}[{window}])')})"

        # Each bucket less the one below: the lower bucket's `le` moved up one bound (top first,
        # so no two series ever share a bound); the first bin is the first bucket.
        shifted = cumulative(',le!="+Inf"')
        for lower, upper in reversed(list(itertools.pairwise(CONFIDENCE_BOUNDS))):
            pattern = lower.replace(".", "\\\\.")
            shifted = f'label_replace({shifted}, "le", "{upper}", "le", "{pattern}")'
        return f"(({cumulative('')} - {shifted}) or {cumulative('')}){scale}"

    def total(selector: str) -> str:
        return f'sum(increase({CONFIDENCE_BUCKET}{{{selector},le="+Inf"}}[{window}])){scale}'

    return _log_e_query(
        by_arm=counts("le, arm"),
        by_category=counts("le"),
        canary_total=total(arms.canary()),
        total=total(arms.both()),
        min_predictions=min_predictions,
    )


def _split(arms: Arms, by: str, vector: str) -> str:
    return arms.split(vector) if "arm" in by else vector


def _log_e_query(by_arm: str, by_category: str, canary_total: str, total: str, min_predictions: int) -> str:
    """The statistic from the counts per category and arm (a category an arm never answered in is
    absent, and counts 0 there), per category, and the totals.

    Of Stirling's lgamma(x) = f(x) - x + ln(2 pi)/2, the -x terms cancel within each category
    ((c+1) + (s+1) = n+2), leaving ln(2 pi)/2 per category; an arm's absent category adds f(1)."""
    if min_predictions < 1:
        raise ValueError(f"min_predictions must be at least 1, got {min_predictions}")
    f_one = 1 / 12 - 1 / 360
    stable_total = f"({total} - {canary_total})"
    categories = (
        f"sum({_f(f'{by_arm} + 1')}) - sum({_f(f'{by_category} + 2')})\n"
        f"+ count({by_category}) * {2 * f_one + _HALF_LN_2PI!r} - count({by_arm}) * {f_one!r}"
    )
    null = f"{_xlnx_promql(canary_total)} + {_xlnx_promql(stable_total)} - {_xlnx_promql(total)}"
    guard = f"{canary_total} >= {min_predictions} and on () {stable_total} >= {min_predictions}"
    return f"{categories}\n- ({null})\nand on () ({guard})\n"


def _f(x: str) -> str:
    """Stirling's lgamma(x) less its -x and ln(2 pi)/2 terms."""
    y = f"({x})"
    return f"(({y} - 0.5) * ln{y} + 1 / (12 * {y}) - 1 / (360 * {y} ^ 3))"


def _xlnx_promql(x: str) -> str:
    """x ln x, 0 at 0 (ln of 0 is -Inf, and 0 * -Inf is NaN)."""
    return f"({x}) * ln(clamp_min({x}, 1))"


def _xlnx(x: float) -> float:
    return x * math.log(x) if x > 0 else 0.0


def _xlnx_clamped(x: float) -> float:
    return x * math.log(max(x, 1.0))


def _counts_scale(window: str, scrape_interval: str | None) -> str:
    """increase() extrapolates the samples' span (about window - scrape interval) to the whole
    window: scaled back, the counts are the answers actually seen, not W/(W - interval) times as many
    (which would make every log E larger than the data supports)."""
    if scrape_interval is None:
        return ""
    seconds = prometheus_duration_seconds(window)
    interval = prometheus_duration_seconds(scrape_interval)
    if not 0 < interval < seconds:
        raise ValueError(f"the scrape interval {scrape_interval} must be shorter than the window {window}")
    return f" * {(seconds - interval) / seconds!r}"
