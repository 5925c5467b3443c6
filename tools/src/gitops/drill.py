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
fire for the erroring canary. Every process started is stopped, whatever happens.
"""

from __future__ import annotations

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

from gitops.drill_stack import ARTIFACT, Stack, Target, load, query, series
from gitops.durations import prometheus_duration_seconds
from gitops.generate import SLO_FILE
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import alert_rules
from gitops.render import Manifest, render
from gitops.rollout_sim import Measure, Outcome, simulate
from gitops.slo import load_slo

SPEEDUP = 12  # 1 minute of the Rollout is 5 seconds of the drill
ROUNDS = 3
TIMEOUT_SECONDS = 60
# The templates' rate window (`[2m]`), as platform/slo/slos.yaml declares it.
RATE_WINDOW_SECONDS = prometheus_duration_seconds(load_slo(REPO_ROOT / SLO_FILE).rate_window)
# Traffic before the Rollout's clock starts, as a canary has after its setWeight step: one rate
# window, so a process's first, cold requests are out of the window by its first measurement.
WARMUP_SECONDS = RATE_WINDOW_SECONDS / SPEEDUP
MIN_REQUESTS_PER_WINDOW = 20  # so that a window always holds one of a 1-in-20 fault's errors


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    faults: dict[str, str]
    loaded: bool
    expected: dict[str, str]  # environment whose Rollout is played -> what it must do
    breach_at: float = 0.0  # Rollout seconds after the start when the fault begins

    def plays(self) -> list[str]:
        return [f"{self.name} ({environment})" for environment in self.expected]


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


@dataclass(slots=True)
class DrillReport:
    rounds: int
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # "case (env)" -> one per round
    requests_per_window: dict[str, list[float]] = field(default_factory=dict)  # case -> one per round
    burning: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = []
        for case in (*CASES, OUTAGE):
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
        return found

    def table(self) -> str:
        """One line per case: the runs' phases, the Rollout's action, and when (Rollout time)."""
        breaches = {play: case.breach_at for case in (*CASES, OUTAGE) for play in case.plays()}
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
        return "\n".join(lines)


@functools.cache
def environment_rollout(environment: str) -> tuple[Manifest, dict[str, Manifest]]:
    """An environment's Rollout and AnalysisTemplates, as rendered."""
    manifests = render(REPO_ROOT / "environments" / environment)
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


def play(prometheus: str, namespace: str, pod_hash: str, environment: str) -> Outcome:
    rollout, templates = environment_rollout(environment)
    args = {"canary-hash": pod_hash, "namespace": namespace, "prometheus": prometheus}
    return simulate(rollout, templates, args, measurer(prometheus), SPEEDUP, TIMEOUT_SECONDS)


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


def run_round(stack: Stack, stable: Target, number: int, report: DrillReport) -> None:
    """Every case at once: a process per case (and a faulty spare for a late breach), and for the
    outage case a Prometheus of its own, stopped during its analysis."""
    canaries, spares = {}, {}
    for case in (*CASES, OUTAGE):
        clean = case.faults if not case.breach_at else {}
        canaries[case.name] = stack.service(case.name, f"drill-{case.name}", f"{case.name}-r{number}", clean)
        if case.breach_at and case.faults:
            spare = f"{case.name}-spare"
            spares[case.name] = stack.service(spare, f"drill-{spare}", f"{spare}-r{number}", case.faults)
    stack.wait_ready([*canaries.values(), *spares.values()])
    outage = stack.start_prometheus()
    plays = [
        (name, case, environment, outage.url if case is OUTAGE else stack.prometheus.url)
        for case in (*CASES, OUTAGE)
        for name, environment in zip(case.plays(), case.expected, strict=True)
    ]
    loaded = [canaries[case.name] for case in (*CASES, OUTAGE) if case.loaded]
    with load([stable, *loaded, *spares.values()]):
        time.sleep(WARMUP_SECONDS)
        started = time.monotonic()
        timers = [after(OUTAGE.breach_at, functools.partial(stack.stop, outage.process))] + [
            after(case.breach_at, functools.partial(swap, stack, canaries[case.name], spares[case.name]))
            for case in CASES
            if case.name in spares
        ]
        with ThreadPoolExecutor(len(plays)) as pool:
            outcomes = list(
                pool.map(lambda p: play(p[3], f"drill-{p[1].name}", f"{p[1].name}-r{number}", p[2]), plays)
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
    for (name, _, _, _), outcome in zip(plays, outcomes, strict=True):
        report.outcomes.setdefault(name, []).append(outcome)
    stack.stop(outage.process)
    stack.retire([*canaries.values(), *spares.values()])


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
            stable = stack.service("stable", "drill-stable", "stable0001", {})
            stack.start_prometheus()
            stack.wait_ready([stable])
            for number in range(1, rounds + 1):
                run_round(stack, stable, number, report)
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
