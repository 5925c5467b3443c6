"""`gitops-drill` (`make drill`): prove the canary analysis decides as Argo Rollouts would.

Each round starts canaries beside a stable service (healthy, 5% injected errors, +400 ms
injected latency, one that gets no traffic, and one whose errors begin three minutes into its
rollout), with a real Prometheus scraping them and locust load, then plays dev's and prod's
Rollouts for them in compressed time (`rollout_sim`, every duration of the Rollout and its
AnalysisTemplates divided by SPEEDUP): real measurements, judged run by run by
`analysis_model` as argo-rollouts v1.8.3 judges them, and the Rollout's action. A last case
stops Prometheus in the middle of a healthy canary's analysis. Every verdict (each run's phase
and the Rollout's action) must come out the same in all rounds; every loaded canary must get
enough requests per measurement window for its 1-in-20 fault to show; the burn-rate alert must
fire for the erroring canary.

Then each round plays the model-quality cases: canaries that answer fast and without errors,
but from another model (lite2, meant to differ: promoted), from lite0's int8 build (version
1+int8, judged as the same network and promoted) or from lite0 behind a defect (labels out of
order, colour channels swapped, wrong normalisation, wrong crop: aborted). The Rollouts'
paired-check Jobs run the real `classifier-quality-check` against the real processes
(`drill_quality`), and every such canary must pass the error-rate and latency metrics, so that
the model-quality gate alone decides. Every process started is stopped, whatever happens.
"""

from __future__ import annotations

import copy
import functools
import http.client
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from classifier_modelbuild.golden import write_golden_set
from classifier_testkit.artifacts import drill_artifact, int8_artifact, variant_artifact
from gitops import delivery
from gitops.analysis import STEP as STEP_TEMPLATE
from gitops.drill_quality import job_runner, measure_once, once, paired_job
from gitops.drill_stack import ARTIFACT, Stack, Target, query, series
from gitops.durations import prometheus_duration_seconds
from gitops.generate import SLO_FILE
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import alert_rules
from gitops.quality_analysis import LIVE, PAIRED
from gitops.render import Manifest
from gitops.rollout_sim import Measure, Outcome, RunJob, simulate
from gitops.slo import load_slo

SPEEDUP = 12  # 1 minute of the Rollout is 5 seconds of the drill
ROUNDS = 3
TIMEOUT_SECONDS = 60
# The model-quality plays run the paired check's 480 requests at once, several checks together.
QUALITY_TIMEOUT_SECONDS = 240
# The templates' rate window (`[2m]`), as platform/slo/slos.yaml declares it.
RATE_WINDOW_SECONDS = prometheus_duration_seconds(load_slo(REPO_ROOT / SLO_FILE).rate_window)
# Traffic before the Rollout's clock starts, as a canary has after its setWeight step: one rate
# window, so a process's first, cold requests are out of the window by its first measurement.
WARMUP_SECONDS = RATE_WINDOW_SECONDS / SPEEDUP
MIN_REQUESTS_PER_WINDOW = 20  # so that a window always holds one of a 1-in-20 fault's errors
STABLE_HASH = "stable0001"
# The live model-quality metrics' verdicts the drill requires (the others it reports): stable's
# model passes; another model measures 0, a pass; labels out of order fail the class mix.
LIVE_EXPECTED = {
    "healthy": {"class-mix": "Successful", "confidence": "Successful"},
    "lite2": {"class-mix": "Successful", "confidence": "Successful"},
    "int8": {"class-mix": "Successful", "confidence": "Successful"},
    "shuffled-labels": {"class-mix": "Failed"},
    "labels-floors-0": {"class-mix": "Failed"},
}


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    faults: dict[str, str]
    loaded: bool
    expected: dict[str, str]  # environment whose Rollout is played -> what it must do
    breach_at: float = 0.0  # Rollout seconds after the start when the fault begins
    model: str = "lite0"  # the EfficientNet-Lite variant the canary serves
    defect: str | None = None  # DRILL ONLY: a defect of that model's artifact
    int8: bool = False  # the model's int8 build (version 1+int8) instead of its float32 artifact
    # The paired check's floors this release's Rollout sets (None: the templates' own)
    paired_floors: str | None = None

    def plays(self) -> list[str]:
        return [f"{self.name} ({environment})" for environment in self.expected]

    def artifact(self) -> Path:
        if self.defect is not None:
            return drill_artifact(self.defect)
        if self.int8:
            return int8_artifact()
        return ARTIFACT if self.model == "lite0" else variant_artifact(self.model)


ERRORS = {"CLASSIFIER_FAULT_ERROR_RATE": "0.05"}
# dev's Rollout reaches its step analysis after one minute; prod's stays on its first step for
# ten, so in prod a breach meets the background analysis alone.
CASES = (
    Case("healthy", {}, True, {"dev": "promoted"}),
    Case("errors", ERRORS, True, {"dev": "aborted", "prod": "aborted"}),
    Case("slow", {"CLASSIFIER_FAULT_LATENCY_MS": "400"}, True, {"dev": "aborted", "prod": "aborted"}),
    Case("idle", {}, False, {"dev": "paused", "prod": "paused"}),
    Case("errors-from-3m", ERRORS, True, {"prod": "aborted"}, breach_at=180.0),
)
OUTAGE = Case("prometheus-down", {}, True, {"dev": "aborted"}, breach_at=90.0)
# Wrong models that answer fast and without errors. The same model as stable ("healthy" above)
# is promoted; another model, meant to differ, is promoted; lite0's int8 build (fp32 -> int8) is
# promoted, judged by the same-network floors; lite0 behind a defect is aborted by the paired
# check: in prod before the canary takes any traffic, in dev at its first step.
DEFECTS = ("shuffled-labels", "swapped-channels", "wrong-normalisation", "wrong-crop")
# The last: labels out of order in a release whose Rollout lowered the paired floors to 0 (a
# team's override, runbooks/promote.md): the live class-mix metric must abort it on its own.
LIVE_ONLY = Case(
    "labels-floors-0", {}, True, {"prod": "aborted"}, defect="shuffled-labels", paired_floors="0"
)
QUALITY_CASES = (
    Case("lite2", {}, True, {"dev": "promoted"}, model="lite2"),
    Case("int8", {}, True, {"dev": "promoted"}, int8=True),
    *(Case(defect, {}, True, {"dev": "aborted", "prod": "aborted"}, defect=defect) for defect in DEFECTS),
    LIVE_ONLY,
)


@dataclass(slots=True)
class DrillReport:
    rounds: int
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # "case (env)" -> one per round
    requests_per_window: dict[str, list[float]] = field(default_factory=dict)  # case -> one per round
    burning: set[str] = field(default_factory=set)
    # model-quality case -> per round, its error-rate and latency measurements' phases
    slo: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    # case -> per round, the live model-quality metrics: (phase, the query's values)
    live: dict[str, list[dict[str, tuple[str, list[float] | None]]]] = field(default_factory=dict)
    # play -> the paired checks' reports (round 1)
    paired: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = []
        for case in (*CASES, OUTAGE, *QUALITY_CASES):
            for play, expected in zip(case.plays(), case.expected.values(), strict=True):
                outcomes = self.outcomes.get(play, [])
                actions = [o.action for o in outcomes]
                if actions != [expected] * self.rounds:
                    found.append(f"{play}: the Rollout {actions}, expected {expected} every round")
                if len({o.phases for o in outcomes}) > 1:
                    found.append(
                        f"{play}: the runs' phases differ between rounds: {[o.phases for o in outcomes]}"
                    )
        for name, counts in self.requests_per_window.items():
            if min(counts) < MIN_REQUESTS_PER_WINDOW:
                found.append(f"{name}: only {min(counts):.0f} requests per window, too few to judge")
        if "drill-errors" not in self.burning:
            found.append("the availability burn-rate alert would not fire for the erroring canary")
        if self.burning & {"drill-healthy", "drill-stable", "drill-slow"}:
            found.append(f"the burn-rate alert would fire for healthy traffic: {sorted(self.burning)}")
        for case in QUALITY_CASES:
            rounds = self.slo.get(case.name, [])
            if len(rounds) != self.rounds or any(set(r.values()) != {"Successful"} for r in rounds):
                found.append(f"{case.name}: the error-rate and latency metrics must pass, measured {rounds}")
        kinds = {str(r.get("kind")) for r in self.paired.get("int8", [])}
        if kinds != {"same-network"}:
            found.append(f"int8: the paired checks must judge it as the same network, judged as {kinds}")
        for outcome in self.outcomes.get(LIVE_ONLY.plays()[0], []):
            if ("Background", "Failed") not in outcome.phases:
                found.append(f"{LIVE_ONLY.name}: the live metrics did not fail its run: {outcome.runs}")
        for name, wanted in LIVE_EXPECTED.items():
            phases = [
                {metric: measured[metric][0] for metric in wanted} for measured in self.live.get(name, [])
            ]
            if phases != [wanted] * self.rounds:
                found.append(f"{name}: the live model-quality metrics measured {phases}, expected {wanted}")
        return found

    def table(self) -> str:
        """One line per case: the runs' phases, the Rollout's action, and when (Rollout time)."""
        breaches = {
            play: case.breach_at for case in (*CASES, OUTAGE, *QUALITY_CASES) for play in case.plays()
        }
        lines = [
            f"| canary | analysis runs (round 1) | Rollout | seconds after the start, {self.rounds} rounds "
            "| seconds after the breach |",
            "|---|---|---|---|---|",
        ]
        for play, outcomes in self.outcomes.items():
            actions = " / ".join(sorted({o.action for o in outcomes}))
            times = ", ".join(f"{o.seconds:.0f}" for o in outcomes)
            since = (
                ", ".join(f"{o.seconds - breaches[play]:.0f}" for o in outcomes) if breaches[play] else "-"
            )
            lines.append(f"| {play} | {'; '.join(outcomes[0].runs)} | {actions} | {times} | {since} |")
        traffic = ", ".join(f"{n} {min(c):.0f}" for n, c in self.requests_per_window.items())
        lines.append(
            f"\nMeasurements: S successful, F failed, I inconclusive, E error. Time compressed {SPEEDUP}x "
            f"(1 Rollout minute = {60 / SPEEDUP:g} s); the breach is when the fault starts, or Prometheus "
            f"stops in {OUTAGE.name}.\nFewest requests per measurement window: {traffic}."
            f"\nAvailability burn-rate alert expression true for: {sorted(self.burning) or 'none'}"
        )
        lines.append("\nPaired checks (round 1): top-1 agreement / top-5 overlap / canary accuracy, verdict")
        for canary, reports in self.paired.items():
            shown = "; ".join(
                f"{r.get('agreement', '-')}/{r.get('top5_overlap', '-')}/{r.get('canary_accuracy', '-')} "
                f"{r.get('verdict')} ({r.get('kind', '-')})"
                for r in reports
            )
            lines.append(f"- {canary}: {shown}")
        slo = ", ".join(
            f"{name} {' '.join(sorted({p for r in rounds for p in r.values()}))}"
            for name, rounds in self.slo.items()
        )
        lines.append(f"Error-rate and latency measurements of the model-quality canaries: {slo}")
        lines.append(
            "\nLive model-quality metrics (log e-value; Successful below the threshold, Failed at or "
            "above it, Inconclusive with too few answers):"
        )
        for name, rounds in self.live.items():
            shown = "; ".join(
                ", ".join(
                    f"{metric} {phase[0]} {values[0]:.1f}" if values else f"{metric} {phase[0]} -"
                    for metric, (phase, values) in measured.items()
                )
                for measured in rounds
            )
            lines.append(f"- {name}: {shown}")
        return "\n".join(lines)


@functools.cache
def environment_rollout(environment: str) -> tuple[Manifest, dict[str, Manifest]]:
    """An environment's Rollout and AnalysisTemplates, as rendered."""
    manifests = delivery.environment_objects(REPO_ROOT, environment)
    rollout = next(m for m in manifests if m["kind"] == "Rollout")
    templates = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "AnalysisTemplate"}
    return rollout, templates


def measurer(prometheus: str) -> Measure:
    """Measurements against a Prometheus that may go away."""

    def measure(promql: str) -> tuple[list[float] | None, str | None]:
        try:
            return query(prometheus, promql), None
        except (OSError, ValueError, KeyError, http.client.HTTPException) as error:  # an Error upstream too
            return None, f"{type(error).__name__}: {error}"

    return measure


def with_paired_floors(rollout: Manifest, value: str) -> Manifest:
    """The Rollout with every paired-check step passing `value` for each of the check's floors,
    as a team's override in git would."""
    changed = copy.deepcopy(rollout)
    for step in changed["spec"]["strategy"]["canary"]["steps"]:
        analysis = step.get("analysis", {})
        if any(ref["templateName"] == PAIRED for ref in analysis.get("templates", [])):
            floors = [a["name"] for a in environment_rollout("dev")[1][PAIRED]["spec"]["args"]]
            analysis["args"] = [*analysis.get("args", []), *({"name": n, "value": value} for n in floors)]
    return changed


def play(
    prometheus: str,
    namespace: str,
    pod_hash: str,
    environment: str,
    run_job: RunJob,
    timeout_seconds: float = TIMEOUT_SECONDS,
    paired_floors: str | None = None,
) -> Outcome:
    rollout, templates = environment_rollout(environment)
    if paired_floors is not None:
        rollout = with_paired_floors(rollout, paired_floors)
    args = {
        "canary-hash": pod_hash,
        "stable-hash": STABLE_HASH,
        "namespace": namespace,
        "prometheus": prometheus,
    }
    return simulate(rollout, templates, args, measurer(prometheus), SPEEDUP, timeout_seconds, run_job)


def after(rollout_seconds: float, action: Callable[[], object]) -> threading.Timer:
    """Do `action` that many Rollout seconds after now (a play starts now)."""
    timer = threading.Timer(rollout_seconds / SPEEDUP, action)
    timer.start()
    return timer


def requests_per_window(prometheus: str, target: Target, seconds: float) -> float:
    """How many requests one measurement window held, on average over the play."""
    selector = f'namespace="{target.namespace}",rollouts_pod_template_hash="{target.hash}"'
    promql = f"sum(rate(classifier_http_requests_total{{{selector}}}[{max(1, round(seconds))}s]))"
    rate = query(prometheus, promql)
    return (rate[0] if rate else 0.0) * RATE_WINDOW_SECONDS / SPEEDUP


def burning_namespaces(prometheus: str, alert: str = "ClassifierAvailabilityBudgetBurn") -> set[str]:
    expr = alert_rules(REPO_ROOT)[alert]["expr"]
    return {item["metric"]["namespace"] for item in series(prometheus, expr, timeout=10)}


def runner(
    report: DrillReport, name: str, number: int, canary: Target, stable: Target, golden: Path
) -> RunJob:
    """A canary's paired-check Jobs against it and stable, one real run per Job spec (`once`);
    round 1's reports go into the report under `name`."""
    reports = report.paired.setdefault(name, []) if number == 1 else []
    return once(job_runner(canary.url, stable.url, golden, reports))


def run_round(stack: Stack, stable: Target, number: int, report: DrillReport, golden: Path) -> None:
    """Every case at once: a process per case (and a faulty spare for a late breach), and for the
    outage case a Prometheus of its own, stopped during its analysis."""
    canaries, spares = {}, {}
    for case in (*CASES, OUTAGE):
        clean = case.faults if not case.breach_at else {}
        canaries[case.name] = stack.service(case.name, f"drill-{case.name}", f"{case.name}-r{number}", clean)
        if case.breach_at and case.faults:
            spare = f"{case.name}-spare"
            spares[case.name] = stack.service(spare, f"drill-{spare}", f"{spare}-r{number}", case.faults)
    stack.alias(stable, [f"drill-{case.name}" for case in (*CASES, OUTAGE)])
    stack.wait_ready([*canaries.values(), *spares.values()])
    # These canaries serve stable's model: their Rollouts' paired checks take the verdict of one
    # real check against the healthy one, run here before the clock starts (the faults these
    # cases inject are the SLO metrics' to catch; the model-quality cases run their own checks).
    same_model = runner(report, "healthy (the SLO cases' model)", number, canaries["healthy"], stable, golden)
    same_model(paired_job(environment_rollout("dev")[1], PAIRED))
    outage = stack.start_prometheus()
    plays = [
        (name, case, environment, outage.url if case is OUTAGE else stack.prometheus.url)
        for case in (*CASES, OUTAGE)
        for name, environment in zip(case.plays(), case.expected, strict=True)
    ]
    loaded = [canaries[case.name] for case in (*CASES, OUTAGE) if case.loaded]
    with stack.load([stable, *loaded, *spares.values()]):
        time.sleep(WARMUP_SECONDS)
        started = time.monotonic()
        timers = [after(OUTAGE.breach_at, functools.partial(stack.stop, outage.process))] + [
            after(case.breach_at, functools.partial(swap, stack, canaries[case.name], spares[case.name]))
            for case in CASES
            if case.name in spares
        ]
        with ThreadPoolExecutor(len(plays)) as pool:
            outcomes = list(
                pool.map(
                    lambda p: play(p[3], f"drill-{p[1].name}", f"{p[1].name}-r{number}", p[2], same_model),
                    plays,
                )
            )
        for timer in timers:
            timer.cancel()
        elapsed = time.monotonic() - started
        for case in CASES:
            if case.loaded:
                target = next(t for t in stack.targets if t.hash == f"{case.name}-r{number}")
                counted = requests_per_window(stack.prometheus.url, target, elapsed)
                report.requests_per_window.setdefault(case.name, []).append(counted)
        if number == 1:
            report.burning = burning_namespaces(stack.prometheus.url)
        templates = environment_rollout("dev")[1]
        args = live_args(stack.prometheus.url, "healthy", number)
        report.live.setdefault("healthy", []).append(
            measure_once(templates, LIVE, args, measurer(args["prometheus"]), SPEEDUP)
        )
    for (name, _, _, _), outcome in zip(plays, outcomes, strict=True):
        report.outcomes.setdefault(name, []).append(outcome)
    stack.stop(outage.process)
    stack.retire([*canaries.values(), *spares.values()])


def live_args(prometheus: str, case: str, number: int) -> dict[str, str]:
    return {
        "canary-hash": f"{case}-r{number}",
        "stable-hash": STABLE_HASH,
        "namespace": f"drill-{case}",
        "prometheus": prometheus,
    }


def play_quality(prometheus: str, case: Case, number: int, run_job: RunJob, environment: str) -> Outcome:
    namespace, pod_hash = f"drill-{case.name}", f"{case.name}-r{number}"
    return play(
        prometheus, namespace, pod_hash, environment, run_job, QUALITY_TIMEOUT_SECONDS, case.paired_floors
    )


def run_quality_round(stack: Stack, stable: Target, number: int, report: DrillReport, golden: Path) -> None:
    """The model-quality cases under load, one after another: their plays (the paired Jobs
    decide), then one measurement of the step analysis's error-rate and latency metrics for each
    canary."""
    canaries = {
        case.name: stack.service(
            case.name,
            f"drill-{case.name}",
            f"{case.name}-r{number}",
            {},
            case.artifact(),
            drill_defect=case.defect is not None,
        )
        for case in QUALITY_CASES
    }
    stack.alias(stable, [f"drill-{case.name}" for case in QUALITY_CASES])
    stack.wait_ready(list(canaries.values()))
    prometheus = stack.prometheus.url
    runners = {
        case.name: runner(report, case.name, number, canaries[case.name], stable, golden)
        for case in QUALITY_CASES
    }
    outcomes: dict[str, Outcome] = {}
    with stack.load([stable, *canaries.values()]):
        time.sleep(WARMUP_SECONDS)
        for case in QUALITY_CASES:  # one at a time: two cores, and a check is 480 requests
            with ThreadPoolExecutor(len(case.expected)) as pool:
                played = pool.map(
                    functools.partial(play_quality, prometheus, case, number, runners[case.name]),
                    case.expected,
                )
                outcomes |= dict(zip(case.plays(), played, strict=True))
        # The SLO metrics over a window of user traffic alone, after the checks' bursts.
        time.sleep(RATE_WINDOW_SECONDS / SPEEDUP)
        templates = environment_rollout("dev")[1]
        for case in QUALITY_CASES:
            args = live_args(prometheus, case.name, number)
            step = measure_once(templates, STEP_TEMPLATE, args, measurer(prometheus), SPEEDUP)
            report.slo.setdefault(case.name, []).append(
                {metric: phase for metric, (phase, _) in step.items()}
            )
            live = measure_once(templates, LIVE, args, measurer(prometheus), SPEEDUP)
            report.live.setdefault(case.name, []).append(live)
    for name, outcome in outcomes.items():
        report.outcomes.setdefault(name, []).append(outcome)
    stack.retire(list(canaries.values()))


def swap(stack: Stack, clean: Target, faulty: Target) -> None:
    """The breach begins: from now on the canary's revision is served by the faulty process."""
    canary_namespace, canary_hash = clean.namespace, clean.hash
    stack.relabel(clean, f"{clean.namespace}-retired", f"{clean.hash}-retired")
    stack.relabel(faulty, canary_namespace, canary_hash)


def run_drill(rounds: int = ROUNDS) -> DrillReport:
    started = time.monotonic()
    report = DrillReport(rounds)
    with tempfile.TemporaryDirectory(prefix="drill-") as scratch:
        stack = Stack(Path(scratch))
        try:
            stable = stack.service("stable", "drill-stable", STABLE_HASH, {})
            stack.start_prometheus()
            stack.wait_ready([stable])
            golden = Path(scratch) / "golden"
            write_golden_set(golden)  # as the image carries it (services/classifier/Dockerfile)
            for number in range(1, rounds + 1):
                run_round(stack, stable, number, report, golden)
                run_quality_round(stack, stable, number, report, golden)
        finally:
            stack.stop_all()
    report.seconds = time.monotonic() - started
    return report


def main() -> int:
    if not (ARTIFACT / "metadata.json").is_file():
        print("gitops-drill: build the model first (`make model`)", file=sys.stderr)
        return 2
    report = run_drill()
    print(report.table())
    problems = report.problems()
    for problem in problems:
        print(f"FAILED: {problem}")
    verdict = "every verdict as expected in every round" if not problems else "problems above"
    print(f"drill finished in {report.seconds:.0f} s: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
