"""Read and judge the evidence a promotion rests on: the source environment's rollout status
and the image's signature verification.

A digest moves on only if the source environment finished rolling it out, Healthy, with its
canary analysis passed, and if CI's keyless signature of it verifies (issue #12: an aborted
release was promotable). Field names are Argo Rollouts v1.8.3's: pkg/apis/rollouts/v1alpha1/
types.go (phases l. 878-884, abort l. 890, currentPodHash l. 910, stableRS l. 956),
analysis_types.go (AnalysisRun phases l. 208-213, MetricResult l. 483-502) and
utils/analysis/factory.go (the AnalysisRun labels, BackgroundLabels/StepLabels l. 83-107);
cosign v2.5.3's for the signature (see ``judge_signature``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gitops.analysis_model import STOPS_RUN
from gitops.paths import HASH_LABEL, ROLLOUT, namespace

REPOSITORY = "model-serving-gitops/model-serving-gitops"
DEFAULT_IDENTITY = f"https://github.com/{REPOSITORY}/.github/workflows/ci.yml@refs/heads/main"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
CONTAINER_NAME = "classifier"
# Labels Argo Rollouts puts on the AnalysisRuns it creates (factory.go StepLabels/BackgroundLabels).
RUN_TYPE_LABEL = "rollout-type"
STEP_INDEX_LABEL = "step-index"
CAPTURED_AT = "capturedAt"  # written into the List by `gitops-promote status`
COSIGN_TYPE = "cosign container image signature"


class EvidenceError(ValueError):
    """The evidence is missing, malformed or says the release must not move on; the message says why."""


@dataclass(frozen=True, slots=True)
class MetricResult:
    name: str
    phase: str
    successful: int
    failed: int
    inconclusive: int


@dataclass(frozen=True, slots=True)
class AnalysisRun:
    name: str
    type: str  # Step or Background
    step_index: str | None
    phase: str
    message: str
    metrics: tuple[MetricResult, ...]
    created: str = ""  # metadata.creationTimestamp (RFC 3339, so it sorts as text)


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    namespace: str
    phase: str
    stable_hash: str
    current_hash: str
    image: str
    runs: tuple[AnalysisRun, ...]  # those for current_hash only
    captured_at: str
    captured_from: str  # where captured_at came from


@dataclass(frozen=True, slots=True)
class Signature:
    digest: str
    subject: str
    issuer: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a promotion's pull request shows: the source environment's rollout and the signature."""

    environment: str
    rollout: RolloutStatus
    signature: Signature


def how_to_capture(environment: str) -> str:
    return (
        f"capture it with `gitops-promote status {environment} --argocd-server URL --output FILE` "
        f"or `kubectl get rollout,analysisrun -n {namespace(environment)} -o json > FILE`"
    )


def how_to_verify(environment: str) -> str:
    return (
        f"`cosign verify --certificate-identity {DEFAULT_IDENTITY} --certificate-oidc-issuer "
        f"{GITHUB_ISSUER} --output json $(gitops-promote image {environment}) > FILE`"
    )


def _load(path: Path) -> Any:
    """JSON or YAML (YAML is a superset of the JSON kubectl and cosign print)."""
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise EvidenceError(f"cannot read {path}: {error}") from error


def _captured(document: dict[str, Any], path: Path) -> tuple[str, str]:
    """When the status was taken: the List's capturedAt field, else the file's modification time."""
    if document.get(CAPTURED_AT):
        return str(document[CAPTURED_AT]), f"`{CAPTURED_AT}` field written by gitops-promote status"
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return mtime, "status file's modification time"


def _items(document: Any, path: Path, environment: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or document.get("kind") != "List":
        raise EvidenceError(f"{path} is not a Kubernetes List: {how_to_capture(environment)}")
    return [item for item in document.get("items") or [] if isinstance(item, dict)]


def _rollout(items: list[dict[str, Any]], path: Path, environment: str) -> dict[str, Any]:
    for item in items:
        if item.get("kind") == "Rollout" and item.get("metadata", {}).get("name") == ROLLOUT:
            return item
    raise EvidenceError(f"{path} holds no Rollout named {ROLLOUT!r}: {how_to_capture(environment)}")


def _image(rollout: dict[str, Any]) -> str:
    containers = rollout.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return next((str(c.get("image")) for c in containers if c.get("name") == CONTAINER_NAME), "<none>")


def _analysis_run(item: dict[str, Any]) -> AnalysisRun:
    labels = item.get("metadata", {}).get("labels") or {}
    status = item.get("status") or {}
    # Counts are omitempty in the API (analysis_types.go MetricResult): absent means 0.
    metrics = tuple(
        MetricResult(
            str(m.get("name")),
            str(m.get("phase")),
            int(m.get("successful", 0)),
            int(m.get("failed", 0)),
            int(m.get("inconclusive", 0)),
        )
        for m in status.get("metricResults") or []
    )
    return AnalysisRun(
        name=str(item.get("metadata", {}).get("name")),
        type=str(labels.get(RUN_TYPE_LABEL, "?")),
        step_index=labels.get(STEP_INDEX_LABEL),
        phase=str(status.get("phase", "Pending")),
        message=str(status.get("message", "")),
        metrics=metrics,
        created=str(item.get("metadata", {}).get("creationTimestamp", "")),
    )


def _runs_for(items: list[dict[str, Any]], pod_hash: str) -> tuple[AnalysisRun, ...]:
    """The latest run of each kind (background, each step) for this pod hash: after `kubectl argo
    rollouts retry` the same revision's earlier, failed runs remain beside the new ones."""
    runs = sorted(
        (
            _analysis_run(item)
            for item in items
            if item.get("kind") == "AnalysisRun"
            and (item.get("metadata", {}).get("labels") or {}).get(HASH_LABEL) == pod_hash
        ),
        key=lambda run: (run.created, run.name),
    )
    latest = {(run.type, run.step_index): run for run in runs}
    return tuple(sorted(latest.values(), key=lambda run: run.name))


def _judge_runs(runs: tuple[AnalysisRun, ...], pod_hash: str, environment: str) -> None:
    for run in runs:
        if run.phase in STOPS_RUN:
            raise EvidenceError(
                f"AnalysisRun {run.name} for {environment}'s pod hash {pod_hash} is {run.phase}"
                f"{': ' + run.message if run.message else ''}; fix the release and roll it out in "
                f"{environment} again before promoting"
            )
    if not any(run.type == "Step" and run.phase == "Successful" for run in runs):
        raise EvidenceError(
            f"no Successful Step AnalysisRun for {environment}'s pod hash {pod_hash}: the canary analysis "
            "did not pass (was the rollout promoted by hand, or its runs deleted?); roll it out again"
        )
    # A run ends Successful once `count` is reached if no limit was exceeded, even when every
    # measurement was Inconclusive (argo-rollouts v1.8.3 analysis/analysis.go assessMetricStatus).
    if not any(
        run.type == "Step"
        and run.phase == "Successful"
        and run.metrics
        and all(m.successful > 0 for m in run.metrics)
        for run in runs
    ):
        raise EvidenceError(
            f"{environment}'s step analysis for pod hash {pod_hash} passed without a single successful "
            "measurement of some metric (no traffic reached the canary?): roll it out again under traffic"
        )


def judge_rollout(path: Path, environment: str, image: str) -> RolloutStatus:
    """The source environment's status, if it shows ``image`` fully rolled out, Healthy, analysis passed."""
    document = _load(path)
    items = _items(document, path, environment)
    rollout = _rollout(items, path, environment)
    where = rollout.get("metadata", {}).get("namespace")
    if where != namespace(environment):
        expected = namespace(environment)
        raise EvidenceError(
            f"{path} is from namespace {where!r}, not {expected!r}: {how_to_capture(environment)}"
        )
    running = _image(rollout)
    if running != image:
        raise EvidenceError(
            f"{environment}'s Rollout runs {running}, not {image}: the status is of another release; "
            "capture it again once Argo CD has synced"
        )
    status = rollout.get("status") or {}
    _judge_progress(status, environment, image)
    runs = _runs_for(items, str(status["currentPodHash"]))
    _judge_runs(runs, str(status["currentPodHash"]), environment)
    captured_at, captured_from = _captured(document, path)
    return RolloutStatus(
        where,
        status["phase"],
        status["stableRS"],
        status["currentPodHash"],
        running,
        runs,
        captured_at,
        captured_from,
    )


def _judge_progress(status: dict[str, Any], environment: str, image: str) -> None:
    """Not aborted, Healthy and fully promoted: the rollout finished, and did not fail."""
    if status.get("abort") is True:
        raise EvidenceError(
            f"{environment}'s rollout of {image} was aborted ({status.get('message', 'no message')}); "
            f"fix the release and roll it out in {environment} again, never promote an aborted one"
        )
    phase = status.get("phase")
    if phase != "Healthy":
        raise EvidenceError(
            f"{environment}'s Rollout is {phase or 'without a phase'}, not Healthy: wait until it is, "
            "then capture the status again"
        )
    current, stable = status.get("currentPodHash"), status.get("stableRS")
    if not current or current != stable:
        raise EvidenceError(
            f"{environment}'s Rollout is not fully promoted (currentPodHash {current}, stableRS {stable}): "
            "wait for its last step, then capture the status again"
        )


def judge_signature(path: Path, image_name: str, digest: str, identity: str) -> Signature:
    """The verified signature of ``digest`` by ``identity``, from `cosign verify --output json`.

    cosign v2.5.3 (what sigstore/cosign-installer v3.9.2 installs), cmd/cosign/cli/verify/verify.go
    PrintVerification (l. 349-469) prints a JSON array of sigstore v1.9.5's
    pkg/signature/payload/payload.go SimpleContainerImage (l. 31-51: critical.identity.docker-reference,
    critical.image.docker-manifest-digest, critical.type), with the certificate's SAN as
    optional.Subject and its OIDC issuer as optional.Issuer (verify.go l. 416, 418). cosign prints
    it only when every signature verified, so the file's existence is the verification; this
    checks that it is about this digest and this signer.
    """
    document = _load(path)
    if not isinstance(document, list) or not all(isinstance(entry, dict) for entry in document):
        raise EvidenceError(f"{path} is not `cosign verify --output json` output (a JSON array)")
    for_digest = [
        entry for entry in document if _critical(entry, "image", "docker-manifest-digest") == digest
    ]
    if not for_digest:
        signed = sorted({str(_critical(entry, "image", "docker-manifest-digest")) for entry in document})
        raise EvidenceError(
            f"{path} verifies {', '.join(signed) or 'nothing'}, not {digest}: run cosign verify on "
            f"{image_name}@{digest}"
        )
    for entry in for_digest:
        optional = entry.get("optional") or {}
        if (
            entry.get("critical", {}).get("type") == COSIGN_TYPE
            and _same_repository(str(_critical(entry, "identity", "docker-reference")), image_name)
            and optional.get("Subject") == identity
            and optional.get("Issuer") == GITHUB_ISSUER
        ):
            return Signature(digest, identity, GITHUB_ISSUER)
    signers = sorted({_signer(entry) for entry in for_digest})
    raise EvidenceError(
        f"{digest} is signed by {'; '.join(signers)}, not by {identity} (issuer {GITHUB_ISSUER}) for "
        f"{image_name}: promote only images CI signed on main"
    )


def _critical(entry: dict[str, Any], section: str, key: str) -> Any:
    return (entry.get("critical", {}).get(section) or {}).get(key)


def _same_repository(reference: str, image_name: str) -> bool:
    """cosign claims the repository, or with --sign-container-identity a tag or digest of it."""
    return reference == image_name or reference.startswith((f"{image_name}:", f"{image_name}@"))


def _signer(entry: dict[str, Any]) -> str:
    optional = entry.get("optional") or {}
    reference = _critical(entry, "identity", "docker-reference")
    return f"{optional.get('Subject')} (issuer {optional.get('Issuer')}) for {reference}"


def judge(
    status: Path, signature: Path, environment: str, image_name: str, digest: str, identity: str
) -> Evidence:
    """Both judgements for ``image_name@digest`` leaving ``environment``; the first refusal wins."""
    rollout = judge_rollout(status, environment, f"{image_name}@{digest}")
    return Evidence(environment, rollout, judge_signature(signature, image_name, digest, identity))


def status_list(items: list[dict[str, Any]], captured_at: str) -> str:
    """A Kubernetes List of ``items`` as kubectl prints it, with the time it was captured."""
    document = {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        CAPTURED_AT: captured_at,
        "items": items,
    }
    return json.dumps(document, indent=4) + "\n"
