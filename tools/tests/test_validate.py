"""Every environment renders and passes; every policy names the problem it exists for."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from gitops.paths import ENVIRONMENTS
from gitops.policies import POLICIES
from gitops.render import Manifest
from gitops.validate import problems_in

Mutation = Callable[[list[Manifest]], None]


def find(manifests: list[Manifest], kind: str, name: str = "classifier") -> Manifest:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def _container(manifests: list[Manifest]) -> dict[str, Any]:
    container: dict[str, Any] = find(manifests, "Rollout")["spec"]["template"]["spec"]["containers"][0]
    return container


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(node: dict[str, Any]) -> None:
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return apply


_DELETE = object()


def on_container(path: list[Any], value: Any) -> Mutation:
    return lambda ms: _set(path, value)(_container(ms))


def on(kind: str, path: list[Any], value: Any, name: str = "classifier") -> Mutation:
    return lambda ms: _set(path, value)(find(ms, kind, name))


def test_every_environment_is_clean_including_checkov(rendered: dict[str, list[Manifest]]) -> None:
    for environment in ENVIRONMENTS:
        assert problems_in(environment, rendered[environment], use_checkov=True) == [], environment


def test_cli_validates_everything_argo_cd_deploys() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gitops.validate", "--no-checkov"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
    assert all(f"{env}: 17 objects" in result.stderr for env in ENVIRONMENTS)
    assert "cluster: 12 Applications" in result.stderr
    assert result.stderr.rstrip().endswith("0 problems")


MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "no step analysis",
        on(
            "Rollout",
            ["spec", "strategy", "canary", "steps"],
            [{"setWeight": 50}, {"pause": {"duration": "1m"}}],
        ),
        "Rollout/classifier: its canary has no step analysis",
    ),
    (
        "no readiness probe",
        on_container(["readinessProbe"], _DELETE),
        "Rollout/classifier container classifier: no readinessProbe",
    ),
    ("no startup probe", on_container(["startupProbe"], _DELETE), "no startupProbe"),
    (
        "no memory limit",
        on_container(["resources", "limits", "memory"], _DELETE),
        "Rollout/classifier container classifier: no limits.memory",
    ),
    ("no cpu request", on_container(["resources", "requests", "cpu"], _DELETE), "no requests.cpu"),
    (
        "root allowed",
        on_container(["securityContext", "runAsNonRoot"], False),
        "Rollout/classifier container classifier: runAsNonRoot is not true",
    ),
    (
        "root user",
        on_container(["securityContext", "runAsUser"], 0),
        "runAsUser must be a numeric, non-zero user",
    ),
    (
        "writable root",
        on_container(["securityContext", "readOnlyRootFilesystem"], False),
        "readOnlyRootFilesystem is not true",
    ),
    (
        "escalation",
        on_container(["securityContext", "allowPrivilegeEscalation"], True),
        "allowPrivilegeEscalation is not false",
    ),
    (
        "capabilities kept",
        on_container(["securityContext", "capabilities", "drop"], []),
        "capabilities.drop does not include ALL",
    ),
    (
        "no seccomp",
        on("Rollout", ["spec", "template", "spec", "securityContext", "seccompProfile"], _DELETE),
        "seccompProfile is not RuntimeDefault",
    ),
    (
        "token mounted",
        on("Rollout", ["spec", "template", "spec", "automountServiceAccountToken"], True),
        "automountServiceAccountToken is not false",
    ),
    ("latest tag", on_container(["image"], "ghcr.io/model-serving-gitops/classifier:latest"), ":latest"),
    (
        "tag instead of digest",
        on_container(["image"], "ghcr.io/model-serving-gitops/classifier:1.2.3"),
        "is not pinned by digest (@sha256:...), required in prod",
    ),
    (
        "pdb misses pods",
        on("PodDisruptionBudget", ["spec", "selector", "matchLabels"], {"app": "other"}),
        "PodDisruptionBudget/classifier: selector {'app': 'other'} matches no workload's pods",
    ),
    (
        "scaler targets a Deployment",
        on("ScaledObject", ["spec", "scaleTargetRef", "kind"], "Deployment"),
        "ScaledObject/classifier: scaleTargetRef Deployment/classifier is not a workload here",
    ),
    (
        "fallback over a Value metric",
        on("ScaledObject", ["spec", "triggers", 0, "metricType"], "Value"),
        "ScaledObject/classifier: KEDA's webhook refuses the fallback: at least one trigger (that is not "
        "cpu or memory) has to have the `AverageValue` type",
    ),
    (
        "unguarded success",
        on(
            "AnalysisTemplate",
            ["spec", "metrics", 0, "successCondition"],
            "result[0] <= 0.0144",
            "classifier-canary-background",
        ),
        "successCondition does not guard against len(result) > 0 and !isNaN(result[0])",
    ),
    (
        "NaN unguarded failure",
        on(
            "AnalysisTemplate",
            ["spec", "metrics", 1, "failureCondition"],
            "len(result) > 0 && result[0] > 0.3",
            "classifier-canary-step",
        ),
        "failureCondition does not guard against !isNaN(result[0])",
    ),
    (
        "query over all pods",
        on(
            "AnalysisTemplate",
            ["spec", "metrics", 0, "provider", "prometheus", "query"],
            "sum(rate(classifier_http_requests_total[2m]))",
            "classifier-canary-background",
        ),
        "the query does not select canary pods",
    ),
    (
        "hash not latest",
        on(
            "Rollout",
            ["spec", "strategy", "canary", "analysis", "args", 0, "valueFrom"],
            {"podTemplateHashValue": "Stable"},
        ),
        "canary-hash is not passed as valueFrom.podTemplateHashValue: Latest",
    ),
    (
        "missing template",
        on("Rollout", ["spec", "strategy", "canary", "analysis", "templates", 0, "templateName"], "nope"),
        "analysis template nope is missing",
    ),
    (
        "service selector typo",
        on("Service", ["spec", "selector"], {"app.kubernetes.io/name": "clasifier"}, "classifier-canary"),
        "Service/classifier-canary: selector",
    ),
    (
        "policy selects nothing",
        on("NetworkPolicy", ["spec", "podSelector", "matchLabels"], {"app": "x"}),
        "NetworkPolicy/classifier",
    ),
    (
        "monitor selects nothing",
        on("ServiceMonitor", ["spec", "selector", "matchLabels"], {"app": "x"}),
        "ServiceMonitor/classifier",
    ),
    (
        "rollout selector",
        on("Rollout", ["spec", "selector", "matchLabels"], {"app": "x"}),
        "does not match its own pod labels",
    ),
    (
        "wrong target port",
        on("Service", ["spec", "ports", 0, "targetPort"], "htp", "classifier-stable"),
        "Service/classifier-stable: targetPort 'htp' is not a port",
    ),
    (
        "unknown field in a core object",
        on("Service", ["spec", "selectr"], {}),
        "Service/classifier: spec: Additional properties are not allowed ('selectr' was unexpected)",
    ),
    (
        "unknown field in a Rollout",
        on("Rollout", ["spec", "strategy", "canary", "stepz"], []),
        "Rollout/classifier: spec.strategy.canary: Additional properties are not allowed",
    ),
    # The Rollout CRD leaves `volumes` open: only the PodTemplateSpec check can see this.
    (
        "unknown field where the Rollout CRD is open",
        on("Rollout", ["spec", "template", "spec", "volumes", 0, "emptyDir"], {"sizeLimt": "64Mi"}),
        "Rollout/classifier: template.spec.volumes.0.emptyDir: Additional properties are not allowed "
        "('sizeLimt' was unexpected)",
    ),
    (
        "wrong type in an AnalysisTemplate",
        on("AnalysisTemplate", ["spec", "metrics", 0, "failureLimit"], [1], "classifier-canary-background"),
        "AnalysisTemplate/classifier-canary-background: spec.metrics.0.failureLimit",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), MUTATIONS, ids=[case for case, _, _ in MUTATIONS])
def test_validator_names_the_problem(
    prod_copy: list[Manifest], case: str, mutate: Mutation, expected: str
) -> None:
    assert problems_in("prod", prod_copy, use_checkov=False) == []
    mutate(prod_copy)
    problems = problems_in("prod", prod_copy, use_checkov=False)
    matching = [problem for problem in problems if expected in problem]
    assert matching, f"{case}: {problems}"
    assert all(_rule_of(problem) in {*POLICIES, "schema"} for problem in matching), matching


def _rule_of(problem: str) -> str:
    """The rule a problem names last, in parentheses: `Kind/name: what is wrong (rule)`."""
    found = re.search(r"\(([\w -]+)\)$", problem)
    return found.group(1) if found else ""


def test_unknown_kind_fails(prod_copy: list[Manifest]) -> None:
    prod_copy.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    prod_copy.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Gizmo", "metadata": {"name": "g"}})
    problems = problems_in("prod", prod_copy, use_checkov=False)
    assert any("Widget/w: no schema for example.com/v1 Widget" in p for p in problems)
    assert any("Gizmo/g: no schema for argoproj.io/v1alpha1 Gizmo" in p for p in problems)


def test_checkov_runs_on_the_rollout_pod_template(prod_copy: list[Manifest]) -> None:
    """A host-network pod passes our policies but not checkov: proof checkov sees the Rollout."""
    find(prod_copy, "Rollout")["spec"]["template"]["spec"]["hostNetwork"] = True
    problems = problems_in("prod", prod_copy, use_checkov=True)
    assert any("(checkov CKV_K8S_19)" in p and "Deployment" in p for p in problems), problems


def test_staging_and_prod_pin_digests_dev_may_too(rendered: dict[str, list[Manifest]]) -> None:
    for environment in ("staging", "prod"):
        image = find(rendered[environment], "Rollout")["spec"]["template"]["spec"]["containers"][0]["image"]
        assert "@sha256:" in image


def test_every_drill_only_setting_of_the_service_is_refused_in_an_environment() -> None:
    """The `drill-settings` rule knows each setting the service marks DRILL ONLY."""
    from classifier.config import describe
    from gitops.policies.pods import DRILL_ONLY_SETTINGS

    drill_only = [name for name, _, help_text in describe() if help_text.startswith("DRILL ONLY")]
    assert len(drill_only) >= 3
    assert all(DRILL_ONLY_SETTINGS.match(name) for name in drill_only), drill_only
    assert not DRILL_ONLY_SETTINGS.match("CLASSIFIER_MODEL_DIR")


@pytest.mark.parametrize(
    ("field", "value", "refused"),
    [
        # argo-rollouts v1.8.3 pkg/apis/rollouts/validation/validation.go:288-293: InvalidSpec only
        # for a scaleDownDelaySeconds that is set and a dynamicStableScale that is true.
        ("scaleDownDelaySeconds", 0, True),
        ("dynamicStableScale", True, True),
        ("dynamicStableScale", False, False),
        ("abortScaleDownDelaySeconds", 30, True),
        ("abortScaleDownDelaySeconds", None, False),
    ],
)
def test_canary_options_are_judged_as_upstream_acts_on_them(
    rendered: dict[str, list[Manifest]], field: str, value: Any, refused: bool
) -> None:
    dev = copy.deepcopy(rendered["dev"])
    canary = find(dev, "Rollout")["spec"]["strategy"]["canary"]
    assert canary.get("trafficRouting") is None, "dev is the basic canary this test needs"
    canary[field] = value
    problems = [p for p in problems_in("dev", dev, use_checkov=False) if p.endswith("(canary-options)")]
    assert bool(problems) == refused, problems
