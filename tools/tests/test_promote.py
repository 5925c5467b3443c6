"""The promotion tool on a real temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitops import delivery
from gitops.paths import REPO_ROOT
from gitops.promote import current_image

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
IMAGE = "ghcr.io/model-serving-gitops/classifier"
EVIDENCE = Path(__file__).parent / "fixtures" / "evidence"
CI_IDENTITY = (
    "https://github.com/model-serving-gitops/model-serving-gitops/.github/workflows/ci.yml@refs/heads/main"
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def promote(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitops.promote", "--root", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def evidence(folder: Path, environment: str, image: str, status: str = "status-healthy.json") -> list[str]:
    """--status and --signature for ``image`` leaving ``environment``: the recorded Healthy release
    (tools/tests/fixtures/evidence) and its cosign output, re-aimed at this image and namespace."""
    name, digest = image.split("@")
    document = json.loads((EVIDENCE / status).read_text())
    for item in document["items"]:
        item["metadata"]["namespace"] = f"classifier-{environment}"
        if item["kind"] == "Rollout":
            item["spec"]["template"]["spec"]["containers"][0]["image"] = image
    signature = json.loads((EVIDENCE / "signature-healthy.json").read_text())
    signature[0]["critical"]["image"]["docker-manifest-digest"] = digest
    signature[0]["critical"]["identity"]["docker-reference"] = name
    folder.mkdir(parents=True, exist_ok=True)
    status_path = folder / f"status-{environment}.json"
    signature_path = folder / f"signature-{environment}.json"
    status_path.write_text(json.dumps(document))
    signature_path.write_text(json.dumps(signature))
    return ["--status", str(status_path), "--signature", str(signature_path)]


def image_in(repo: Path, environment: str) -> str:
    """`gitops-promote image`: what the workflow hands to cosign verify."""
    return promote(repo, "image", environment).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # What promotion edits, and what gitops-validate reads besides (the Argo CD apps, the
    # platform add-ons, the cluster's hand-applied pieces).
    for folder in ("environments", "rollouts", "argocd", "platform", "cluster"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    git(tmp_path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "start")
    return tmp_path


def changed_lines(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "diff", "--unified=0").splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_set_image_then_promote_through_every_environment(repo: Path, tmp_path: Path) -> None:
    result = promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_A}")
    assert result.returncode == 0, result.stderr
    lines = changed_lines(repo)
    assert len(lines) == 2
    assert lines[0].startswith("-  digest: sha256:")
    assert lines[1] == f"+  digest: {DIGEST_A}  # what promotion changes"
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "dev")

    title_file, body_file = tmp_path / "title", tmp_path / "body"
    result = promote(
        repo,
        "--pr-title-file",
        str(title_file),
        "--pr-body-file",
        str(body_file),
        "promote",
        "dev",
        "staging",
        *evidence(tmp_path / "evidence", "dev", f"{IMAGE}@{DIGEST_A}"),
    )
    assert result.returncode == 0, result.stderr
    assert git(repo, "diff", "--name-only").split() == ["environments/staging/values.yaml"]
    assert len(changed_lines(repo)) == 2  # one line out, one line in
    assert title_file.read_text().strip() == "Promote classifier aaaaaaaaaaaa from dev to staging"
    body = body_file.read_text()
    assert f"`{IMAGE}@{DIGEST_A}`" in body
    assert "+  digest: sha256:aaaa" in result.stdout
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "staging")

    result = promote(
        repo, "promote", "staging", "prod", *evidence(tmp_path / "evidence", "staging", f"{IMAGE}@{DIGEST_A}")
    )
    assert result.returncode == 0, result.stderr
    assert len(changed_lines(repo)) == 2
    prod = (repo / "environments/prod/values.yaml").read_text()
    assert f"digest: {DIGEST_A}" in prod
    assert prod.startswith("# prod: what differs from the chart's defaults")  # comments and order kept


def test_the_pull_request_body_carries_the_evidence(repo: Path, tmp_path: Path) -> None:
    assert promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_A}").returncode == 0
    result = promote(repo, "promote", "dev", "staging", *evidence(tmp_path, "dev", f"{IMAGE}@{DIGEST_A}"))
    assert result.returncode == 0, result.stderr
    body = result.stdout[result.stdout.index("Promotes the classifier image") :]
    evidence_section = body[body.index("## Evidence") : body.index("```diff")]
    for line in (
        f"- digest: `{DIGEST_A}`",
        "- source: **dev** (namespace `classifier-dev`), Rollout phase **Healthy**, not aborted",
        "- stable / current pod hash: `6d9c7f4b8d` / `6d9c7f4b8d`",
        "(status file's modification time)",
        f"Subject `{CI_IDENTITY}`, Issuer `https://token.actions.githubusercontent.com`",
        "| classifier-6d9c7f4b8d-6-2 | Step (step 2) | Successful | error-rate | Successful | 3 / 0 / 0 |",
        "| classifier-6d9c7f4b8d-6 | Background | Successful | latency-p99 | Successful | 8 / 0 / 0 |",
    ):
        assert line in evidence_section
    assert "7b8c5d9f46" not in evidence_section  # an earlier release's run is not this one's evidence


def test_an_aborted_release_is_not_promoted(repo: Path, tmp_path: Path) -> None:
    """Issue #12: dev's values name the digest, but its rollout was aborted there."""
    aborted = json.loads((EVIDENCE / "status-aborted.json").read_text())
    image = aborted["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert promote(repo, "set-image", "dev", image).returncode == 0
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "dev")
    result = promote(
        repo, "promote", "dev", "staging", *evidence(tmp_path, "dev", image, "status-aborted.json")
    )
    assert result.returncode == 2
    assert "dev's rollout of" in result.stderr
    assert "was aborted" in result.stderr
    assert changed_lines(repo) == []


def test_promote_without_evidence_is_refused_and_says_how_to_get_it(repo: Path, tmp_path: Path) -> None:
    assert promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_A}").returncode == 0
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "dev")
    status_only = evidence(tmp_path, "dev", f"{IMAGE}@{DIGEST_A}")[:2]
    for args in ([], status_only):
        result = promote(repo, "promote", "dev", "staging", *args)
        assert result.returncode == 2
        assert "promote needs dev's evidence" in result.stderr
        assert "gitops-promote status dev --argocd-server URL" in result.stderr
        assert "cosign verify --certificate-identity" in result.stderr
    assert changed_lines(repo) == []


def test_a_signature_by_another_identity_needs_identity(repo: Path, tmp_path: Path) -> None:
    fork = "https://github.com/someone/model-serving-gitops/.github/workflows/ci.yml@refs/heads/main"
    image = f"{IMAGE}@sha256:e9a88e7d8d761b7e338c2a2df78b0799de9489445541e1baa39df7bc1751d19a"
    assert promote(repo, "set-image", "dev", image).returncode == 0
    status = evidence(tmp_path, "dev", image)[:2]
    signature = ["--signature", str(EVIDENCE / "signature-other-identity.json")]
    refused = promote(repo, "promote", "dev", "staging", *status, *signature)
    assert refused.returncode == 2
    assert f"not by {CI_IDENTITY}" in refused.stderr
    assert promote(repo, "promote", "dev", "staging", *status, *signature, "--identity", fork).returncode == 0


def test_image_prints_an_environments_image(repo: Path) -> None:
    assert promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_B}").returncode == 0
    assert image_in(repo, "dev") == f"{IMAGE}@{DIGEST_B}"


def test_promoting_what_is_there_changes_nothing(repo: Path, tmp_path: Path) -> None:
    first = promote(repo, "promote", "dev", "staging", *evidence(tmp_path, "dev", image_in(repo, "dev")))
    assert first.returncode == 0
    assert "nothing to change" in first.stdout  # the copied repo has the same digest in both
    assert changed_lines(repo) == []


def test_skipping_an_environment_is_refused(repo: Path) -> None:
    result = promote(repo, "promote", "dev", "prod")
    assert result.returncode == 2
    assert "cannot promote dev -> prod" in result.stderr
    assert promote(repo, "promote", "prod", "staging").returncode == 2
    assert changed_lines(repo) == []


def test_tags_are_refused_for_staging_and_prod(repo: Path) -> None:
    for environment in ("staging", "prod"):
        result = promote(repo, "set-image", environment, f"{IMAGE}:1.2.3")
        assert result.returncode == 2
        assert "only images pinned by digest" in result.stderr
    assert promote(repo, "set-image", "dev", f"{IMAGE}:1.2.3").returncode == 0
    result = promote(repo, "promote", "dev", "staging")
    assert result.returncode == 2
    assert "has no digest" in result.stderr


def test_malformed_digest_is_refused(repo: Path) -> None:
    result = promote(repo, "set-image", "dev", f"{IMAGE}@sha256:1234")
    assert result.returncode == 2
    assert "64 hex digits" in result.stderr


def test_promoted_environment_still_validates(repo: Path, tmp_path: Path) -> None:
    assert promote(repo, "set-image", "dev", f"{IMAGE}@{DIGEST_B}").returncode == 0
    evidence_args = evidence(tmp_path, "dev", f"{IMAGE}@{DIGEST_B}")
    assert promote(repo, "promote", "dev", "staging", *evidence_args).returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "gitops.validate", "--root", str(repo), "--env", "staging", "--no-checkov"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


# --- `gitops-promote status`: Argo CD's REST API, served locally ------------------------

TOKEN = "argocd-api-token"
APP = "/api/v1/applications/classifier-dev"


class RecordedArgoCD(BaseHTTPRequestHandler):
    """Answers as Argo CD v3.1's API server does (server/application/application.proto): the
    ResourceTree of classifier-dev (tools/tests/fixtures/evidence/argocd-resource-tree-dev.json,
    a recorded shape: ApplicationTree nodes with group, version, kind, namespace, name, parentRefs)
    and GetResource as {"manifest": "<the live object as a JSON string>"}, the live objects being
    the recorded Healthy release. It records every request it gets."""

    requests: list[tuple[str, dict[str, str], str | None]] = []
    tree = json.loads((EVIDENCE / "argocd-resource-tree-dev.json").read_text())
    live = {
        (item["kind"], item["metadata"]["name"]): item
        for item in json.loads((EVIDENCE / "status-healthy.json").read_text())["items"]
    }

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        self.requests.append((url.path, query, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"error": "invalid session: token is expired", "code": 16})
        elif url.path == f"{APP}/resource-tree" and not query:
            self._answer(200, self.tree)
        elif url.path == f"{APP}/resource" and (query.get("kind"), query.get("resourceName")) in self.live:
            manifest = self.live[(query["kind"], query["resourceName"])]
            self._answer(200, {"manifest": json.dumps(manifest, separators=(",", ":"), sort_keys=True)})
        else:
            self._answer(404, {"error": f"{url.path} not found", "code": 5})

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the recorded requests instead."""


@pytest.fixture
def argocd() -> Iterator[str]:
    RecordedArgoCD.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedArgoCD)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def with_token(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ARGOCD_AUTH_TOKEN"}
    env["NO_PROXY"] = "127.0.0.1"
    return env | ({"ARGOCD_AUTH_TOKEN": token} if token else {})


def test_status_reads_the_rollout_and_its_runs_through_argo_cd(
    repo: Path, tmp_path: Path, argocd: str
) -> None:
    output = tmp_path / "status.json"
    args = ("status", "dev", "--argocd-server", argocd, "--output", str(output))
    result = promote(repo, *args, env=with_token(TOKEN))
    assert result.returncode == 0, result.stderr

    def resource(kind: str, name: str) -> tuple[str, dict[str, str], str]:
        query = {"namespace": "classifier-dev", "resourceName": name, "version": "v1alpha1"}
        return f"{APP}/resource", query | {"group": "argoproj.io", "kind": kind}, f"Bearer {TOKEN}"

    assert RecordedArgoCD.requests == [
        (f"{APP}/resource-tree", {}, f"Bearer {TOKEN}"),
        resource(
            "Rollout", "classifier"
        ),  # the Service, Pod, ReplicaSet and AnalysisTemplate are not asked for
        resource("AnalysisRun", "classifier-6d9c7f4b8d-6"),
        resource("AnalysisRun", "classifier-6d9c7f4b8d-6-2"),
        resource("AnalysisRun", "classifier-7b8c5d9f46-5"),
    ]
    written = json.loads(output.read_text())
    assert (written["apiVersion"], written["kind"]) == ("v1", "List")
    assert written["items"][0]["kind"] == "Rollout"
    assert sorted(item["metadata"]["name"] for item in written["items"]) == sorted(
        n for _, n in RecordedArgoCD.live
    )

    image = written["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert promote(repo, "set-image", "dev", image).returncode == 0
    signature = str(EVIDENCE / "signature-healthy.json")
    result = promote(repo, "promote", "dev", "staging", "--status", str(output), "--signature", signature)
    assert result.returncode == 0, result.stderr
    assert (
        f"- status captured: {written['capturedAt']} (`capturedAt` field written by gitops-promote status)"
        in (result.stdout)
    )


def test_status_without_a_token_is_refused(repo: Path, tmp_path: Path, argocd: str) -> None:
    args = ("status", "dev", "--argocd-server", argocd, "--output", str(tmp_path / "status.json"))
    result = promote(repo, *args, env=with_token(None))
    assert result.returncode == 2
    assert "set ARGOCD_AUTH_TOKEN" in result.stderr
    assert RecordedArgoCD.requests == []


def test_status_with_a_rejected_token_says_so(repo: Path, tmp_path: Path, argocd: str) -> None:
    output = tmp_path / "status.json"
    result = promote(
        repo, "status", "dev", "--argocd-server", argocd, "--output", str(output), env=with_token("old")
    )
    assert result.returncode == 2
    assert "resource-tree: HTTP 401" in result.stderr
    assert "check ARGOCD_AUTH_TOKEN" in result.stderr
    assert not output.exists()


def test_status_of_an_application_without_the_rollout_says_so(
    repo: Path, tmp_path: Path, argocd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = [node for node in RecordedArgoCD.tree["nodes"] if node["kind"] != "Rollout"]
    monkeypatch.setattr(RecordedArgoCD, "tree", {"nodes": nodes})
    output = tmp_path / "status.json"
    result = promote(
        repo, "status", "dev", "--argocd-server", argocd, "--output", str(output), env=with_token(TOKEN)
    )
    assert result.returncode == 2
    assert "classifier-dev's resource tree has no Rollout 'classifier'" in result.stderr
    assert not output.exists()


def test_a_tag_in_dev_and_another_repository_edit_only_the_image_lines(repo: Path) -> None:
    """Dev may run a tag: the digest line gives way to it; an image from another repository
    names it. The chart renders what the values say."""
    result = promote(repo, "set-image", "dev", "ghcr.io/fork/classifier:0.2.0")
    assert result.returncode == 0, result.stderr
    assert changed_lines(repo) == [
        f"-  digest: {current_image(REPO_ROOT, 'dev').digest}  # what promotion changes",
        "+  repository: ghcr.io/fork/classifier",
        "+  tag: 0.2.0",
    ]
    dev = delivery.environment_objects(repo, "dev")
    rollout = next(m for m in dev if m["kind"] == "Rollout")
    assert rollout["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/fork/classifier:0.2.0"
    assert image_in(repo, "dev") == "ghcr.io/fork/classifier:0.2.0"
