"""Judging a promotion's evidence, on recorded evidence files (tools/tests/fixtures/evidence/).

The status files are `kubectl get rollout,analysisrun -o json` Lists as Argo Rollouts v1.8.3
writes them (a fully promoted Healthy release, an aborted one, one paused mid-rollout, one
running another digest); the signature files are `cosign verify --output json` (v2.5.3) output.
Each refusal is tested on a copy of a passing file with only that one thing changed, so the
test fails if the check is removed.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.evidence import (
    DEFAULT_IDENTITY,
    GITHUB_ISSUER,
    EvidenceError,
    judge_rollout,
    judge_signature,
)
from gitops.schemas import validate_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"
NAME = "ghcr.io/model-serving-gitops/classifier"
DIGEST = "sha256:e9a88e7d8d761b7e338c2a2df78b0799de9489445541e1baa39df7bc1751d19a"
IMAGE = f"{NAME}@{DIGEST}"
HASH = "6d9c7f4b8d"
FORK_IDENTITY = "https://github.com/someone/model-serving-gitops/.github/workflows/ci.yml@refs/heads/main"

Document = Any


def load(name: str) -> Document:
    return json.loads((FIXTURES / name).read_text())


def image_of(status: Document) -> str:
    return str(status["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"])


def changed(tmp_path: Path, name: str, change: Callable[[Document], None]) -> Path:
    """A copy of a recorded file with one thing changed."""
    document = copy.deepcopy(load(name))
    change(document)
    path = tmp_path / f"changed-{name}"
    path.write_text(json.dumps(document))
    return path


def run_named(document: Document, name: str) -> dict[str, Any]:
    return next(item for item in document["items"] if item["metadata"]["name"] == name)


def refusal(path: Path, image: str = IMAGE, environment: str = "dev") -> str:
    with pytest.raises(EvidenceError) as caught:
        judge_rollout(path, environment, image)
    return str(caught.value)


# --- The fixtures are the real shape ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("status-*.json")))
def test_status_fixtures_match_the_argo_rollouts_crd_schemas(name: str) -> None:
    """Strict CRD schemas (unknown fields refused) from ../shared/schemas/crds, as `make validate`."""
    items = load(name)["items"]
    assert {item["kind"] for item in items} >= {"Rollout", "AnalysisRun"}
    for item in items:
        assert validate_manifest(item) == [], item["metadata"]["name"]


def test_the_schema_check_catches_a_misspelt_field() -> None:
    rollout = copy.deepcopy(load("status-healthy.json")["items"][0])
    rollout["status"]["stableRs"] = rollout["status"].pop("stableRS")
    run = copy.deepcopy(load("status-healthy.json")["items"][1])
    run["status"]["metricResults"][0]["succeeded"] = 1
    assert validate_manifest(rollout)
    assert validate_manifest(run)


# --- A Healthy, fully promoted, analysed release ------------------------------------------


def test_a_healthy_fully_promoted_release_is_accepted_with_its_runs() -> None:
    status = judge_rollout(FIXTURES / "status-healthy.json", "dev", IMAGE)
    assert (status.namespace, status.phase, status.stable_hash, status.current_hash) == (
        "classifier-dev",
        "Healthy",
        HASH,
        HASH,
    )
    # Only this hash's runs: the Failed run of an earlier, aborted release does not count.
    assert [(run.name, run.type, run.phase) for run in status.runs] == [
        (f"classifier-{HASH}-6", "Background", "Successful"),
        (f"classifier-{HASH}-6-2", "Step", "Successful"),
    ]
    step = status.runs[1]
    assert step.step_index == "2"
    assert [(m.name, m.phase, m.successful, m.failed, m.inconclusive) for m in step.metrics] == [
        ("error-rate", "Successful", 3, 0, 0),
        ("latency-p99", "Successful", 3, 0, 0),
    ]


def test_yaml_status_is_read_like_json(tmp_path: Path) -> None:
    path = tmp_path / "status.yaml"
    path.write_text(yaml.safe_dump(load("status-healthy.json")))
    assert judge_rollout(path, "dev", IMAGE).phase == "Healthy"


def test_capture_time_is_the_field_when_present_else_the_file_time(tmp_path: Path) -> None:
    stamped = changed(tmp_path, "status-healthy.json", lambda d: d.update(capturedAt="2025-11-18T10:12:44Z"))
    status = judge_rollout(stamped, "dev", IMAGE)
    assert (status.captured_at, status.captured_from.startswith("`capturedAt`")) == (
        "2025-11-18T10:12:44Z",
        True,
    )
    plain = changed(tmp_path, "status-healthy.json", lambda d: None)
    os.utime(plain, (1763460764, 1763460764))
    status = judge_rollout(plain, "dev", IMAGE)
    assert (status.captured_at, status.captured_from) == (
        "2025-11-18T10:12:44Z",
        "status file's modification time",
    )


# --- Refusals: recorded releases that must not move on ------------------------------------


def test_an_aborted_release_is_refused() -> None:
    aborted = load("status-aborted.json")
    message = refusal(FIXTURES / "status-aborted.json", image_of(aborted))
    assert "was aborted" in message
    assert 'Metric "error-rate" assessed Failed' in message


def test_a_release_paused_mid_rollout_is_refused() -> None:
    message = refusal(FIXTURES / "status-paused.json", image_of(load("status-paused.json")))
    assert "Rollout is Paused, not Healthy" in message


def test_a_status_of_another_digest_is_refused() -> None:
    message = refusal(FIXTURES / "status-other-image.json")
    assert "runs ghcr.io/model-serving-gitops/classifier@sha256:bfe7397a" in message
    assert "another release" in message


# --- Refusals: one thing changed in a passing file ----------------------------------------


def test_abort_alone_is_refused(tmp_path: Path) -> None:
    """status.abort is checked on its own, not only through the Degraded phase it leads to."""
    path = changed(tmp_path, "status-healthy.json", lambda d: d["items"][0]["status"].update(abort=True))
    assert "was aborted" in refusal(path)


@pytest.mark.parametrize("phase", ["Degraded", "Progressing", "Paused"])
def test_any_phase_but_healthy_is_refused(tmp_path: Path, phase: str) -> None:
    path = changed(tmp_path, "status-healthy.json", lambda d: d["items"][0]["status"].update(phase=phase))
    assert f"Rollout is {phase}, not Healthy" in refusal(path)


def test_a_rollout_not_fully_promoted_is_refused(tmp_path: Path) -> None:
    path = changed(
        tmp_path, "status-healthy.json", lambda d: d["items"][0]["status"].update(stableRS="5f7b9c6d48")
    )
    assert "not fully promoted (currentPodHash 6d9c7f4b8d, stableRS 5f7b9c6d48)" in refusal(path)


@pytest.mark.parametrize("phase", ["Failed", "Error", "Inconclusive"])
def test_a_bad_analysis_run_for_the_current_hash_is_refused(tmp_path: Path, phase: str) -> None:
    def background(document: Document) -> None:
        run_named(document, f"classifier-{HASH}-6")["status"]["phase"] = phase

    message = refusal(changed(tmp_path, "status-healthy.json", background))
    assert f"AnalysisRun classifier-{HASH}-6 for dev's pod hash {HASH} is {phase}" in message


def test_a_release_without_a_successful_step_analysis_is_refused(tmp_path: Path) -> None:
    def without_step(document: Document) -> None:
        document["items"] = [
            i for i in document["items"] if i["metadata"]["name"] != f"classifier-{HASH}-6-2"
        ]

    assert "no Successful Step AnalysisRun" in refusal(changed(tmp_path, "status-healthy.json", without_step))


def test_a_step_analysis_still_running_is_not_a_pass(tmp_path: Path) -> None:
    def running(document: Document) -> None:
        run_named(document, f"classifier-{HASH}-6-2")["status"]["phase"] = "Running"

    assert "no Successful Step AnalysisRun" in refusal(changed(tmp_path, "status-healthy.json", running))


def test_a_step_analysis_that_measured_nothing_successful_is_refused(tmp_path: Path) -> None:
    """Successful at `count` with only Inconclusive measurements (no traffic) is not a pass."""

    def inconclusive(document: Document) -> None:
        for metric in run_named(document, "classifier-6d9c7f4b8d-6-2")["status"]["metricResults"]:
            metric.update({"successful": 0, "inconclusive": metric.pop("successful")})

    message = refusal(changed(tmp_path, "status-healthy.json", inconclusive))
    assert "passed without a single successful measurement" in message


def test_a_retried_step_is_judged_by_its_latest_run(tmp_path: Path) -> None:
    """`kubectl argo rollouts retry` leaves the failed run beside the new one, same pod hash."""

    def earlier_failure(document: Document) -> None:
        failed = copy.deepcopy(run_named(document, "classifier-6d9c7f4b8d-6-2"))
        failed["metadata"].update(
            name="classifier-6d9c7f4b8d-6-2-retried", creationTimestamp="2025-11-18T09:00:00Z"
        )
        failed["status"]["phase"] = "Failed"
        document["items"].append(failed)

    judge_rollout(changed(tmp_path, "status-healthy.json", earlier_failure), "dev", IMAGE)

    def later_failure(document: Document) -> None:
        earlier_failure(document)
        run_named(document, "classifier-6d9c7f4b8d-6-2-retried")["metadata"]["creationTimestamp"] = (
            "2025-11-18T11:00:00Z"
        )

    assert "is Failed" in refusal(changed(tmp_path, "status-healthy.json", later_failure))


def test_a_step_analysis_of_another_hash_does_not_count(tmp_path: Path) -> None:
    def other_hash(document: Document) -> None:
        labels = run_named(document, f"classifier-{HASH}-6-2")["metadata"]["labels"]
        labels["rollouts-pod-template-hash"] = "5f7b9c6d48"

    assert "no Successful Step AnalysisRun" in refusal(changed(tmp_path, "status-healthy.json", other_hash))


def test_a_status_from_another_environment_is_refused() -> None:
    message = refusal(FIXTURES / "status-healthy.json", environment="staging")
    assert "from namespace 'classifier-dev', not 'classifier-staging'" in message
    assert "kubectl get rollout,analysisrun -n classifier-staging -o json" in message


def test_a_status_without_the_rollout_is_refused(tmp_path: Path) -> None:
    path = changed(tmp_path, "status-healthy.json", lambda d: d["items"].pop(0))
    assert "no Rollout named 'classifier'" in refusal(path)


def test_a_status_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rollout.json"
    path.write_text(json.dumps(load("status-healthy.json")["items"][0]))
    assert "is not a Kubernetes List" in refusal(path)


def test_a_missing_status_file_is_refused(tmp_path: Path) -> None:
    assert "cannot read" in refusal(tmp_path / "absent.json")


# --- Signatures ---------------------------------------------------------------------------


def test_a_signature_by_ci_on_main_for_the_digest_is_accepted() -> None:
    signature = judge_signature(FIXTURES / "signature-healthy.json", NAME, DIGEST, DEFAULT_IDENTITY)
    assert (signature.digest, signature.subject, signature.issuer) == (
        DIGEST,
        DEFAULT_IDENTITY,
        GITHUB_ISSUER,
    )


def test_a_signature_of_another_digest_is_refused() -> None:
    with pytest.raises(EvidenceError, match=r"verifies sha256:bfe7397a\w+, not sha256:e9a88e7d"):
        judge_signature(FIXTURES / "signature-other-digest.json", NAME, DIGEST, DEFAULT_IDENTITY)


def test_a_signature_by_another_identity_is_refused_unless_asked_for() -> None:
    with pytest.raises(EvidenceError, match=re.escape("signed by https://github.com/someone/")):
        judge_signature(FIXTURES / "signature-other-identity.json", NAME, DIGEST, DEFAULT_IDENTITY)
    signature = judge_signature(FIXTURES / "signature-other-identity.json", NAME, DIGEST, FORK_IDENTITY)
    assert signature.subject == FORK_IDENTITY


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("optional", "Issuer", "https://accounts.google.com"),
        ("optional", "Subject", "someone@example.com"),
        ("critical", "type", "atomic container signature"),
    ],
)
def test_a_signature_with_one_field_wrong_is_refused(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    path = changed(tmp_path, "signature-healthy.json", lambda d: d[0][section].update({key: value}))
    with pytest.raises(EvidenceError, match=re.escape(f"not by {DEFAULT_IDENTITY}")):
        judge_signature(path, NAME, DIGEST, DEFAULT_IDENTITY)


def test_a_signature_for_another_repository_is_refused(tmp_path: Path) -> None:
    def elsewhere(document: Document) -> None:
        document[0]["critical"]["identity"]["docker-reference"] = "ghcr.io/someone/classifier"

    with pytest.raises(EvidenceError, match=re.escape("for ghcr.io/someone/classifier")):
        judge_signature(
            changed(tmp_path, "signature-healthy.json", elsewhere), NAME, DIGEST, DEFAULT_IDENTITY
        )


def test_a_signature_file_that_is_not_a_json_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signature.json"
    path.write_text(
        json.dumps(load("signature-healthy.json")[0])
    )  # one object: not what --output json prints
    with pytest.raises(EvidenceError, match="is not `cosign verify --output json` output"):
        judge_signature(path, NAME, DIGEST, DEFAULT_IDENTITY)
