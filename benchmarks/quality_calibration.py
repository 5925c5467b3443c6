"""Calibration and power of the model-quality canary gate (gitops.quality_stats) on real photos.

    .venv/bin/python benchmarks/quality_calibration.py --replicates 10000 --rate 2 10 50 \\
        --window 10 --output quality_calibration.json

First, what each model answers on a few hundred views of the scikit-image photos
(`classifier_modelbuild.photo_mix`), run in-process through ONNX Runtime and the service's own
preprocessing: the class group and the top-1 confidence bin of every view, for efficientnet-lite0
(stable), lite2 (a better model, meant to differ) and four defects of lite0 (a label file out of
order, swapped colour channels, the wrong normalisation, the wrong crop).

Then whole prod rollouts, played many times: requests arrive at a Poisson rate, each a view drawn
uniformly from the mix, each sent to the canary with the weight prod's Rollout gives at that
minute (its setWeight/pause steps and the step analysis, read from the rendered Rollout and
platform/slo/slos.yaml); every minute from the background analysis' initial delay the two
signals' log e-values over the last `window` minutes are compared with their thresholds. A healthy
canary (lite0 again) must almost never abort; a defect should, soon.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, xlogy  # type: ignore[import-untyped]  # pinned in requirements/dev.txt
from scipy.stats import beta  # type: ignore[import-untyped]

from classifier.artifact import Preprocessing
from classifier.preprocess import preprocess
from gitops.analysis import STEP
from gitops.delivery import environment_objects
from gitops.durations import duration_seconds
from gitops.quality_stats import CLASS_GROUPS, CONFIDENCE_BOUNDS, STIRLING_ERROR_PER_CATEGORY, threshold
from gitops.slo import load_slo

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
STABLE = "lite0"
BETTER = "lite2"
DEFECTS = ("shuffled-labels", "swapped-channels", "wrong-normalisation", "wrong-crop")
CANARIES = (STABLE, BETTER, *DEFECTS)
BOUNDS = np.array([float(bound) for bound in CONFIDENCE_BOUNDS[:-1]])
SIGNALS = ("class_group", "confidence")
ALPHA = 1 / 1000  # false aborts per healthy release, all model-quality signals together
CHUNK = 500  # replicates simulated at once


@dataclass(frozen=True, slots=True)
class Answers:
    """What one model answered on each view of the mix."""

    labels: tuple[str, ...]
    groups: npt.NDArray[np.int64]  # index into CLASS_GROUPS
    bins: npt.NDArray[np.int64]  # index into CONFIDENCE_BOUNDS (the first bound >= confidence)
    confidence: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Prod's rollout, minute by minute: the canary's traffic share and when the analysis checks."""

    weights: npt.NDArray[np.float64]  # canary share during each minute from the rollout's start
    checks: npt.NDArray[np.int64]  # minutes after the start at which a measurement is taken

    @property
    def minutes(self) -> int:
        return len(self.weights)


def record_answers(views: int, seed: int, canaries: Sequence[str] = CANARIES) -> dict[str, Answers]:
    """Stable's and every canary's answers on the same `views` views of the photo mix."""
    import onnxruntime as ort

    from classifier_modelbuild.cli import build, imagenet_labels
    from classifier_modelbuild.photo_mix import photo_mix
    from classifier_modelbuild.variants import VARIANTS

    canonical = {label: index for index, label in enumerate(imagenet_labels())}
    pixels = [np.asarray(view.image.convert("RGB")) for view in photo_mix(views, seed)]

    def run(
        variant: str, spec_change: dict[str, Any] | None = None, swap: bool = False
    ) -> npt.NDArray[np.float64]:
        directory = ARTIFACTS / f"efficientnet-{variant}" / "1"
        if not (directory / "metadata.json").is_file():
            build(VARIANTS[variant], "1", ARTIFACTS)
        metadata = json.loads((directory / "metadata.json").read_text())
        raw = metadata["preprocessing"] | (spec_change or {})
        spec = Preprocessing(**{**raw, "mean": tuple(raw["mean"]), "std": tuple(raw["std"])})
        session = ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])
        batch = np.stack([preprocess(image, spec) for image in pixels])
        if swap:
            batch = np.ascontiguousarray(batch[:, ::-1])
        logits: npt.NDArray[np.float64] = np.concatenate(
            [
                session.run(None, {metadata["input_name"]: batch[i : i + 32]})[0]
                for i in range(0, len(batch), 32)
            ]
        ).astype(np.float64)
        probabilities: npt.NDArray[np.float64] = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities

    def answers(probabilities: npt.NDArray[np.float64], labels: Sequence[str]) -> Answers:
        top = probabilities.argmax(axis=1)
        confidence = probabilities[np.arange(len(top)), top]
        answered = tuple(labels[i] for i in top)
        other = len(CLASS_GROUPS) - 1
        groups = [
            canonical[label] * 64 // len(canonical) if label in canonical else other for label in answered
        ]
        return Answers(
            labels=answered,
            groups=np.array(groups, dtype=np.int64),
            bins=np.searchsorted(BOUNDS, confidence, side="left").astype(np.int64),
            confidence=confidence,
        )

    lite0 = json.loads((ARTIFACTS / "efficientnet-lite0" / "1" / "metadata.json").read_text())
    labels, crop = lite0["labels"], lite0["input_size"]
    stable = run(STABLE)
    recorded = {STABLE: answers(stable, labels)}
    for canary in canaries:
        if canary == BETTER:
            probabilities = run(BETTER)  # builds the artifact if it is missing
            better = json.loads((ARTIFACTS / "efficientnet-lite2" / "1" / "metadata.json").read_text())
            recorded[canary] = answers(probabilities, better["labels"])
        elif canary == "shuffled-labels":
            recorded[canary] = answers(stable, _derangement(labels, seed))
        elif canary == "swapped-channels":
            recorded[canary] = answers(run(STABLE, swap=True), labels)
        elif canary == "wrong-normalisation":
            recorded[canary] = answers(run(STABLE, {"mean": [0.0] * 3, "std": [1.0] * 3}), labels)
        elif canary == "wrong-crop":
            recorded[canary] = answers(run(STABLE, {"resize_shorter_side": 2 * crop}), labels)
    return recorded


def _derangement(labels: Sequence[str], seed: int) -> list[str]:
    """The labels permuted so that every one moves (Sattolo's algorithm: one cycle)."""
    order = list(range(len(labels)))
    rng = random.Random(seed)
    for i in range(len(order) - 1, 0, -1):
        j = rng.randrange(i)
        order[i], order[j] = order[j], order[i]
    return [labels[i] for i in order]


def prod_schedule(root: Path = REPO) -> Schedule:
    """Prod's Rollout as rendered, from the step its background analysis starts at: setWeight and
    pause steps, and the step analysis (`measurements` measurements `interval` apart; a step
    without it, such as the paired check's Job, takes seconds); the background analysis measures
    from its initial delay to the end."""
    slo = load_slo(root / "platform" / "slo" / "slos.yaml")
    interval = _minutes(slo.analysis.interval)
    (rollout,) = [m for m in environment_objects(root, "prod") if m["kind"] == "Rollout"]
    canary = rollout["spec"]["strategy"]["canary"]
    starting_step = canary.get("analysis", {}).get("startingStep", 0)
    weights: list[float] = []
    weight = 0.0
    for index, step in enumerate(canary["steps"]):
        minutes = 0
        if "setWeight" in step:
            weight = step["setWeight"] / 100
        elif "pause" in step:
            if "duration" not in step["pause"]:
                raise ValueError("an indefinite pause: the rollout has no fixed length to simulate")
            minutes = _minutes(step["pause"]["duration"])
        elif "analysis" in step and STEP in {t["templateName"] for t in step["analysis"]["templates"]}:
            minutes = (slo.analysis.step_measurements - 1) * interval
        if index >= starting_step:
            weights += [weight] * minutes
    delay = _minutes(slo.analysis.background_initial_delay)
    return Schedule(np.array(weights), np.arange(delay, len(weights) + 1, interval, dtype=np.int64))


def _minutes(duration: str) -> int:
    seconds = duration_seconds(duration)
    if seconds is None or seconds % 60:
        raise ValueError(f"{duration!r} is not a whole number of minutes")
    return int(seconds // 60)


def distances(stable: Answers, canary: Answers) -> dict[str, float]:
    """How far the canary's answers are from stable's on the same views. The Jensen-Shannon
    divergence at equal weights is what a 50% canary's log E gains per prediction, on average
    (the mutual information of arm and category): it orders how fast each change is seen."""

    def shares(values: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.float64]:
        return np.bincount(values, minlength=size) / len(values)

    def total_variation(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
        return float(np.abs(p - q).sum() / 2)

    def jensen_shannon(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
        def entropy(r: npt.NDArray[np.float64]) -> float:
            return float(-xlogy(r, r).sum())

        return entropy((p + q) / 2) - (entropy(p) + entropy(q)) / 2

    groups = shares(stable.groups, len(CLASS_GROUPS)), shares(canary.groups, len(CLASS_GROUPS))
    bins = shares(stable.bins, len(CONFIDENCE_BOUNDS)), shares(canary.bins, len(CONFIDENCE_BOUNDS))
    return {
        "same_label": float(np.mean([a == b for a, b in zip(stable.labels, canary.labels, strict=True)])),
        "same_group": float(np.mean(stable.groups == canary.groups)),
        "tv_class_groups": total_variation(*groups),
        "tv_confidence_bins": total_variation(*bins),
        "js_class_groups": jensen_shannon(*groups),
        "js_confidence_bins": jensen_shannon(*bins),
        "mean_confidence": float(canary.confidence.mean()),
        "stable_mean_confidence": float(stable.confidence.mean()),
    }


def passing_threshold(
    results: list[dict[str, Any]], highest: dict[tuple[str, float], Any]
) -> list[dict[str, Any]]:
    """Per rate: the log E threshold lite2 stays under in 99% of rollouts, and each defect's power
    there: whether any threshold lets the better model through and still catches the defects."""
    rows = []
    for rate in sorted({row["rate"] for row in results}):
        if (BETTER, rate) not in highest:
            continue
        limit = _quantile(highest[BETTER, rate], 0.99)
        power = {
            canary: float(np.mean(highest[canary, rate] >= (np.inf if limit is None else limit)))
            for canary in DEFECTS
            if (canary, rate) in highest
        }
        rows.append({"rate": rate, "threshold": limit, "power": power})
    return rows


def log_e_values(canary: npt.NDArray[np.float64], stable: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """gitops.quality_stats.log_e_value over the last axis (categories), exact (lgamma)."""
    categories = gammaln(canary + 1) + gammaln(stable + 1) - gammaln(canary + stable + 2)
    total_c, total_s = canary.sum(axis=-1), stable.sum(axis=-1)
    null = xlogy(total_c, total_c) + xlogy(total_s, total_s) - xlogy(total_c + total_s, total_c + total_s)
    return np.asarray(categories.sum(axis=-1) - null)


def _mix(
    answers: Answers,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The distinct (group, bin) answers, their shares of the mix, and one-hot maps to groups and bins."""
    pairs, counts = np.unique(np.stack([answers.groups, answers.bins], axis=1), axis=0, return_counts=True)
    groups = np.eye(len(CLASS_GROUPS))[pairs[:, 0]]
    bins = np.eye(len(CONFIDENCE_BOUNDS))[pairs[:, 1]]
    return counts / counts.sum(), groups, bins


def simulate(
    stable: Answers,
    canary: Answers,
    schedule: Schedule,
    *,
    rate: float,
    window: int,
    min_predictions: int,
    limit: float,
    replicates: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Rollouts played `replicates` times: per signal and for either, the minute of the first and
    of the second failed measurement (inf: none); the highest log E of either signal in each
    rollout; and the inconclusive measurements (under MIN)."""
    # Minutes from `window` before the start (stable alone) to the end; check t sees t-window..t-1.
    shares = np.concatenate([np.zeros(window), schedule.weights])
    per_minute = 60 * rate
    arms = []
    for answers, share in ((canary, shares), (stable, 1 - shares)):
        probabilities, groups, bins = _mix(answers)
        arms.append((per_minute * share[:, None] * probabilities[None, :], groups, bins))
    first: dict[str, list[npt.NDArray[np.int64]]] = {name: [] for name in (*SIGNALS, "either")}
    second: dict[str, list[npt.NDArray[np.int64]]] = {name: [] for name in (*SIGNALS, "either")}
    highest: list[npt.NDArray[np.float64]] = []
    inconclusive: list[npt.NDArray[np.int64]] = []
    low, high = schedule.checks, schedule.checks + window
    for start in range(0, replicates, CHUNK):
        size = min(CHUNK, replicates - start)
        windows: dict[str, list[npt.NDArray[np.float64]]] = {name: [] for name in SIGNALS}
        for mean, groups, bins in arms:
            counts = rng.poisson(mean, size=(size, *mean.shape)).astype(np.float64)
            for name, onto in (("class_group", groups), ("confidence", bins)):
                cumulative = np.concatenate(
                    [np.zeros((size, 1, onto.shape[1])), np.cumsum(counts @ onto, axis=1)], axis=1
                )
                windows[name].append(cumulative[:, high] - cumulative[:, low])
        failed = {}
        measured = np.full((size,), -np.inf)
        for name in SIGNALS:
            arm_c, arm_s = windows[name]
            enough = (arm_c.sum(axis=-1) >= min_predictions) & (arm_s.sum(axis=-1) >= min_predictions)
            log_e = np.where(enough, log_e_values(arm_c, arm_s), -np.inf)
            failed[name] = log_e >= limit
            measured = np.maximum(measured, log_e.max(axis=1))
            if name == "class_group":
                inconclusive.append((~enough).sum(axis=1))
        highest.append(measured)
        failed["either"] = failed["class_group"] | failed["confidence"]
        for name, fails in failed.items():
            minutes = np.where(fails, schedule.checks[None, :], np.iinfo(np.int64).max)
            ordered = np.sort(minutes, axis=1)
            first[name].append(ordered[:, 0])
            second[name].append(ordered[:, 1])

    def times(parts: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.float64]:
        joined = np.concatenate(parts).astype(np.float64)
        joined[joined == np.iinfo(np.int64).max] = np.inf
        return joined

    return {
        "first": {name: times(parts) for name, parts in first.items()},
        "second": {name: times(parts) for name, parts in second.items()},
        "highest": np.concatenate(highest),
        "inconclusive": np.concatenate(inconclusive),
    }


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Abort rates (any failed measurement), their one-sided 95% Clopper-Pearson upper bound, and
    the time to the first failure (minutes from the start)."""
    summary: dict[str, Any] = {}
    for name, first in result["first"].items():
        replicates = len(first)
        aborted = int(np.isfinite(first).sum())
        summary[name] = {
            "aborts": aborted,
            "rate": aborted / replicates,
            "upper95": float(beta.ppf(0.95, aborted + 1, replicates - aborted))
            if aborted < replicates
            else 1.0,
            "median_minutes": _quantile(first, 0.5),
            "p90_minutes": _quantile(first, 0.9),
            "second_failure_rate": float(np.isfinite(result["second"][name]).mean()),
            "second_failure_median_minutes": _quantile(result["second"][name], 0.5),
        }
    summary["highest_log_e"] = {f"q{q:g}": _quantile(result["highest"], q) for q in (0.01, 0.5, 0.99, 0.999)}
    inconclusive = result["inconclusive"]
    summary["inconclusive_checks"] = {
        "median": float(np.median(inconclusive)),
        "max": int(inconclusive.max()),
    }
    return summary


def _quantile(values: npt.NDArray[np.float64], q: float) -> float | None:
    """The q-quantile (inverted CDF: a value that occurred); None where it is infinite."""
    ordered = np.sort(values)
    value = float(ordered[max(0, int(np.ceil(q * len(ordered))) - 1)])
    return value if np.isfinite(value) else None


def markdown(report: dict[str, Any]) -> str:
    p = report["parameters"]
    lines = [
        f"Window {p['window_minutes']}m, MIN {p['min_predictions']} predictions per arm, "
        f"{p['checks_in_threshold']} checks in the Bonferroni count ({p['planned_checks']} planned), "
        f"alpha {p['alpha_per_signal']:g} per signal: abort at log E >= {p['threshold']:.3f} "
        f"(PromQL: class groups {p['promql_threshold']['class_group']:.4f}, "
        f"confidence {p['promql_threshold']['confidence']:.4f}). {p['replicates']} rollouts per row, "
        f"{p['views']} views, seed {p['seed']}. Detect: the first failed measurement (minutes from the "
        "start); 2nd failure: the background analysis' abort (failures: 2).",
        "",
        "| canary | req/s | class-group aborts (rate, 95% upper) | confidence aborts | either "
        "| median / p90 min to detect | 2nd failure: rate, median min | inconclusive checks (median, max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        s = row["summary"]
        either = s["either"]
        lines.append(
            f"| {row['canary']} | {row['rate']:g} | {_rate(s['class_group'])} | {_rate(s['confidence'])} "
            f"| {_rate(either)} | {_minute(either['median_minutes'])} / "
            f"{_minute(either['p90_minutes'])} | {either['second_failure_rate']:.4g}, "
            f"{_minute(either['second_failure_median_minutes'])} "
            f"| {s['inconclusive_checks']['median']:g}, {s['inconclusive_checks']['max']} |"
        )
    lines += [
        "",
        "A threshold that lets lite2 through in 99% of rollouts (its highest log E, either signal), "
        "and each defect's power at it:",
        "",
        "| req/s | threshold | " + " | ".join(DEFECTS) + " |",
        "|---:|---:|" + "---:|" * len(DEFECTS),
    ]
    for row in report["passing_lite2"]:
        limit = "-" if row["threshold"] is None else f"{row['threshold']:.1f}"
        lines.append(
            f"| {row['rate']:g} | {limit} | "
            + " | ".join(f"{row['power'].get(d, 0):.3f}" for d in DEFECTS)
            + " |"
        )
    lines += [
        "",
        "| canary | same label | same group | TV / JS class groups | TV / JS confidence bins "
        "| mean confidence (lite0) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for canary, d in report["distances"].items():
        lines.append(
            f"| {canary} | {d['same_label']:.3f} | {d['same_group']:.3f} "
            f"| {d['tv_class_groups']:.3f} / {d['js_class_groups']:.4f} "
            f"| {d['tv_confidence_bins']:.3f} / {d['js_confidence_bins']:.4f} "
            f"| {d['mean_confidence']:.3f} ({d['stable_mean_confidence']:.3f}) |"
        )
    return "\n".join(lines) + "\n"


def _rate(signal: dict[str, Any]) -> str:
    return f"{signal['aborts']} ({signal['rate']:.4g}, <= {signal['upper95']:.2g})"


def _minute(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=10_000, help="rollouts per canary and rate")
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[2.0, 10.0, 50.0], help="requests per second"
    )
    parser.add_argument("--window", type=int, default=10, help="the queries' window, minutes")
    parser.add_argument(
        "--min-predictions", type=int, default=100, help="per arm and window, else Inconclusive"
    )
    parser.add_argument(
        "--checks", type=int, default=None, help="Bonferroni count (default: twice the planned)"
    )
    parser.add_argument("--views", type=int, default=360, help="views of the photo mix")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--canaries", nargs="+", choices=CANARIES, default=list(CANARIES))
    parser.add_argument("--output", type=Path, required=True, help="JSON report")
    args = parser.parse_args(argv)

    schedule = prod_schedule()
    checks = args.checks or 2 * len(schedule.checks)
    alpha = ALPHA / len(SIGNALS)
    limit = threshold(checks, alpha)
    answers = record_answers(args.views, args.seed, args.canaries)
    results = []
    highest = {}
    for canary_index, canary in enumerate(args.canaries):
        for rate_index, rate in enumerate(args.rate):
            rng = np.random.default_rng([args.seed, canary_index, rate_index])
            result = simulate(
                answers[STABLE],
                answers[canary],
                schedule,
                rate=rate,
                window=args.window,
                min_predictions=args.min_predictions,
                limit=limit,
                replicates=args.replicates,
                rng=rng,
            )
            results.append({"canary": canary, "rate": rate, "summary": summarise(result)})
            highest[canary, rate] = result["highest"]
            print(
                f"{canary} at {rate:g} req/s: either {results[-1]['summary']['either']['rate']:.4g}",
                file=sys.stderr,
            )
    report = {
        "parameters": {
            "replicates": args.replicates,
            "window_minutes": args.window,
            "min_predictions": args.min_predictions,
            "planned_checks": len(schedule.checks),
            "checks_in_threshold": checks,
            "alpha_per_signal": alpha,
            "threshold": limit,
            "promql_threshold": {
                "class_group": limit + len(CLASS_GROUPS) * STIRLING_ERROR_PER_CATEGORY,
                "confidence": limit + len(CONFIDENCE_BOUNDS) * STIRLING_ERROR_PER_CATEGORY,
            },
            "views": args.views,
            "seed": args.seed,
            "canary_weights_by_minute": schedule.weights.tolist(),
            "check_minutes": schedule.checks.tolist(),
        },
        "distances": {canary: distances(answers[STABLE], answers[canary]) for canary in args.canaries},
        "results": results,
        "passing_lite2": passing_threshold(results, highest),
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
