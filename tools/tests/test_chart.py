"""The chart in rollouts/: every environment renders the objects the kustomize overlays rendered,
the environments hold values only, and the chart installs on its own on a plain cluster."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from gitops import standalone
from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.policies.base import pod_secrets
from gitops.render import Manifest, describe
from gitops.validate import problems_in

BEFORE = Path(__file__).parent / "fixtures" / "kustomize-aad5264"

# Deliberate differences from what the overlays rendered: (environment, Kind/name, field path) ->
# why. Every other field of every object is the same.
CHANGES: dict[tuple[str, str, str], str] = {
    (environment, "ExternalSecret/classifier-api-tokens", "/spec/data/0/remoteRef/key"): (
        "each environment reads its own tokens (issue #20): one leaked from dev opens nothing in prod"
    )
    for environment in ENVIRONMENTS
}
# Objects each environment has that the overlays did not, and why.
ADDED = {
    "Policy/classifier-verify-images": "Kyverno admits only the image CI signed, with its SBOM (issue #20)",
}


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Field paths where two objects differ, as `/spec/template/...`."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            found
            for key in sorted(set(before) | set(after))
            for found in (
                differences(before[key], after[key], f"{path}/{key}")
                if key in before and key in after
                else [f"{path}/{key}"]
            )
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            found
            for i, pair in enumerate(zip(before, after, strict=True))
            for found in differences(*pair, f"{path}/{i}")
        ]
    return [] if before == after else [path]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_renders_the_objects_the_overlays_rendered(
    environment: str, rendered: dict[str, list[Manifest]]
) -> None:
    before = {describe(m): m for m in yaml.safe_load_all((BEFORE / f"{environment}.yaml").read_text()) if m}
    after = {describe(m): m for m in rendered[environment]}
    assert sorted(set(after) - set(ADDED)) == sorted(before)
    assert set(ADDED) <= set(after)
    changed = [
        (environment, name, path)
        for name in before
        for path in differences(before[name], after[name])
        if (environment, name, path) not in CHANGES
    ]
    assert changed == []


def test_the_comparison_sees_a_changed_field(rendered: dict[str, list[Manifest]]) -> None:
    before = next(
        m for m in yaml.safe_load_all((BEFORE / "prod.yaml").read_text()) if m and m["kind"] == "Rollout"
    )
    after = next(m for m in rendered["prod"] if m["kind"] == "Rollout")
    after = yaml.safe_load(yaml.safe_dump(after))
    after["spec"]["strategy"]["canary"]["steps"][3] = {"setWeight": 20}
    assert differences(before, after) == ["/spec/strategy/canary/steps/3/setWeight"]


def test_environments_hold_one_values_file_each() -> None:
    for environment in ENVIRONMENTS:
        folder = REPO_ROOT / "environments" / environment
        assert sorted(p.name for p in folder.iterdir()) == ["values.yaml"]


def test_the_analysis_arguments_are_written_once() -> None:
    """The step analysis's arguments (the canary's hash, the namespace) live in the chart alone."""
    found = subprocess.run(
        [
            "git",
            "grep",
            "--untracked",
            "-c",
            "podTemplateHashValue: Latest",
            "--",
            "*.yaml",
            "*.tpl",
            ":!tools/tests/fixtures",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert found == ["rollouts/templates/_canary.tpl:1"]


def _render(values: dict[str, Any]) -> dict[str, str]:
    chart = helm_python.Chart.load(REPO_ROOT / "rollouts")
    try:
        return chart.render(values, name="classifier", namespace="ml", is_install=True)
    finally:
        chart.close()


def test_on_its_own_it_renders_plain_kubernetes_and_passes_every_check() -> None:
    manifests = standalone.render(REPO_ROOT, {})
    assert sorted(describe(m) for m in manifests) == [
        "Deployment/classifier",
        "HorizontalPodAutoscaler/classifier",
        "Ingress/classifier",
        "NetworkPolicy/classifier",
        "PodDisruptionBudget/classifier",
        "Secret/classifier-api-tokens",
        "Service/classifier",
        "ServiceAccount/classifier",
    ]
    assert standalone.needing_a_crd(manifests, {}) == []
    assert problems_in("standalone", manifests, use_checkov=True) == []
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 0}
    secret = next(m for m in manifests if m["kind"] == "Secret")
    assert len(base64.b64decode(secret["data"]["tokens"])) == 40


def test_a_kind_the_cluster_lacks_is_reported() -> None:
    manifests = standalone.render(REPO_ROOT, {"platform": {"keda": True}})
    assert standalone.needing_a_crd(manifests, {}) == [
        "ScaledObject/classifier: keda.sh/v1alpha1 needs a CRD the cluster lacks (no-crd-standalone)"
    ]
    assert standalone.needing_a_crd(manifests, {"platform": {"keda": True}}) == []


def test_notes_say_how_to_reach_the_service() -> None:
    notes = _render({})["classifier/templates/NOTES.txt"]
    assert "kubectl rollout status deployment/classifier -n ml" in notes
    assert "kubectl port-forward -n ml service/classifier 8000:80" in notes
    assert "http://classifier.local/" in notes


@pytest.mark.parametrize("external_secrets", [False, True])
def test_an_existing_secret_replaces_the_chart_s_own_everywhere(external_secrets: bool) -> None:
    """Whether the chart would make the Secret itself or from the store, a named one wins, and every
    reader reads it: the pods and the quality check's Job."""
    platform = {"argoRollouts": True, "externalSecrets": external_secrets}
    values = {"platform": platform, "apiTokens": {"existingSecret": "my-tokens"}}
    manifests = standalone.render(REPO_ROOT, values)
    assert not [m for m in manifests if m["kind"] in {"Secret", "ExternalSecret"}]
    readers = [m for m in manifests if list(pod_secrets(m))]
    assert sorted(describe(m) for m in readers) == ["Rollout/classifier"]
    assert {name for m in readers for _, name in pod_secrets(m)} == {"my-tokens"}
    paired = next(m for m in manifests if m["metadata"]["name"] == "classifier-quality-paired")
    job = paired["spec"]["metrics"][0]["provider"]["job"]
    assert {name for _, name in pod_secrets(job)} == {"my-tokens"}


@pytest.mark.parametrize("keda", [False, True])
@pytest.mark.parametrize("argo_rollouts", [False, True])
def test_the_autoscaler_scales_the_workload_the_chart_renders(keda: bool, argo_rollouts: bool) -> None:
    manifests = standalone.render(REPO_ROOT, {"platform": {"keda": keda, "argoRollouts": argo_rollouts}})
    workloads = [m for m in manifests if m["kind"] in {"Deployment", "Rollout"}]
    scalers = [m for m in manifests if m["kind"] in {"ScaledObject", "HorizontalPodAutoscaler"}]
    assert len(workloads) == len(scalers) == 1
    target = scalers[0]["spec"]["scaleTargetRef"]
    workload = workloads[0]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        workload["apiVersion"],
        workload["kind"],
        workload["metadata"]["name"],
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replica": {"min": 1}}, "additional properties 'replica' not allowed"),
        ({"probes": {"readiness": None}}, "at '/probes': missing property 'readiness'"),
        ({"image": {"digest": "sha256:abc"}}, "at '/image/digest'"),
        ({"canary": {"trafficRouting": "istio"}}, "at '/canary/trafficRouting'"),
        ({"canary": {"steps": [{"setWeight": 50, "pause": "forever"}]}}, "at '/canary/steps/0/pause'"),
        ({"probes": {"liveness": {"periodSecond": 5}}}, "additional properties 'periodSecond' not allowed"),
        # What the API server would refuse at install (validateReadinessProbe, validateLivenessProbe,
        # validateStartupProbe in kubernetes pkg/apis/core/validation/validation.go).
        ({"probes": {"readiness": {"terminationGracePeriodSeconds": 30}}}, "at '/probes/readiness'"),
        ({"probes": {"liveness": {"successThreshold": 2}}}, "at '/probes/liveness/successThreshold'"),
        ({"probes": {"startup": {"successThreshold": 3}}}, "at '/probes/startup/successThreshold'"),
        ({"replicas": {"min": 5, "max": 3}}, r"replicas.min \(5\) is above replicas.max \(3\)"),
        ({"platform": {"keda": True}, "replicas": {"min": 5, "max": 3}}, r"replicas.min \(5\) is above"),
    ],
)
def test_values_the_schema_refuses(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        _render(values)


def test_probe_settings_the_api_server_accepts_still_render() -> None:
    probes = {"liveness": {"terminationGracePeriodSeconds": 10, "successThreshold": 1}}
    probes |= {"readiness": {"successThreshold": 2}}
    rendered = "\n".join(_render({"probes": probes}).values())
    assert "terminationGracePeriodSeconds: 10" in rendered
    assert "successThreshold: 2" in rendered


def test_helm_lint_finds_nothing_to_fix_and_sees_a_broken_chart(tmp_path: Path) -> None:
    assert standalone.lint(REPO_ROOT) == []
    shutil.copytree(REPO_ROOT / "rollouts", tmp_path / "rollouts")
    chart = tmp_path / "rollouts/Chart.yaml"
    chart.write_text(chart.read_text().replace("version: 0.1.0", "version: one"))
    assert "rollouts/Chart.yaml: version 'one' is not a valid SemVer (helm-lint)" in standalone.lint(tmp_path)


def test_ci_can_pin_the_published_image() -> None:
    """CI's chart job replaces the one empty digest line of values.yaml (.github/workflows/ci.yml)."""
    lines = (REPO_ROOT / "rollouts/values.yaml").read_text().splitlines()
    assert lines.count('  digest: ""') == 1
    assert 'sed -i "s/^  digest: \\"\\"$/' in (REPO_ROOT / ".github/workflows/ci.yml").read_text()
