"""What `make cluster-up` and the e2e workflow apply, checked offline: the bootstrap Application
cluster/bootstrap-application.sh prints is followed and validated like git's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gitops import delivery
from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.render import kubectl

FORK = "https://github.com/someone/fork.git"


def bootstrap_application(tmp_path: Path, **environment: str) -> Path:
    result = subprocess.run(
        [str(REPO_ROOT / "cluster/bootstrap-application.sh")],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"KUBECTL": kubectl(), **environment},
    )
    output = tmp_path / "bootstrap.yaml"
    output.write_text(result.stdout)
    return output


def test_local_bootstrap_deploys_the_branch_with_the_local_image_in_every_environment(tmp_path: Path) -> None:
    output = bootstrap_application(
        tmp_path, LOCAL_IMAGE="classifier:e2e", GITOPS_REPO_URL=FORK, GITOPS_REVISION="abc123"
    )
    cluster = delivery.load(REPO_ROOT, yaml.safe_load(output.read_text()))
    for app in cluster.applications:
        if app.objects is not None:
            assert (app.source["repoURL"], app.source["targetRevision"]) == (FORK, "abc123"), app.name
    for app in (a for a in cluster.applications if a.environment):
        rollout = next(m for m in app.objects or () if m["kind"] == "Rollout")
        container = rollout["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "classifier:e2e"
        assert container["resources"]["requests"]["cpu"] == "250m"  # the app of apps' localCluster.resources
    project = next(
        m
        for _, m in cluster.owned_objects()
        if m.get("kind") == "AppProject" and m["metadata"]["name"] == "classifier"
    )
    assert "syncWindows" not in project["spec"]  # prod syncs at any hour on a local cluster


def test_local_bootstrap_validates_but_for_the_local_tag(tmp_path: Path) -> None:
    """A local cluster runs an image built here and loaded into kind by tag: it has no digest and
    no CI signature, so the digest rule and admission verification are the only exceptions."""
    output = bootstrap_application(tmp_path, LOCAL_IMAGE="classifier:e2e")
    result = subprocess.run(
        [sys.executable, "-m", "gitops.validate", "--no-checkov", "--bootstrap", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    unpinned = "classifier:e2e is not pinned by digest (@sha256:...)"
    containers = (  # the Rollout's, and the paired model-quality Job's (the same image)
        "Job/classifier-quality-paired.paired-check container quality-check",
        "Rollout/classifier container classifier",
    )
    unverified = "no Kyverno policy verifies classifier:e2e at admission: its signature is never checked"
    assert sorted(result.stdout.splitlines()) == sorted(
        [
            *(
                f"classifier-{env}: namespace/classifier-{env}: {unverified} (image-verification)"
                for env in ENVIRONMENTS
            ),
            *(
                f"{env}: {container}: {unpinned}, required in {env} (images)"
                for env in ("prod", "staging")
                for container in containers
            ),
        ]
    )


def test_without_overrides_the_bootstrap_is_gits_with_the_local_profile(tmp_path: Path) -> None:
    printed = yaml.safe_load(bootstrap_application(tmp_path).read_text())
    committed = yaml.safe_load((REPO_ROOT / "argocd/bootstrap.yaml").read_text())
    parameters = printed["spec"]["source"]["helm"].pop("parameters")
    assert parameters == [
        *committed["spec"]["source"]["helm"].pop("parameters"),
        {"name": "localCluster.enabled", "value": "true"},
    ]
    assert printed == committed


def test_the_local_cluster_has_two_zones_for_prods_strict_spread() -> None:
    kind = yaml.safe_load((REPO_ROOT / "cluster/kind.yaml").read_text())
    zones = {
        label.split("=", 1)[1]
        for node in kind["nodes"]
        if node["role"] == "worker"
        for patch in node.get("kubeadmConfigPatches", [])
        for label in yaml.safe_load(patch)["nodeRegistration"]["kubeletExtraArgs"]["node-labels"].split(",")
        if label.startswith("topology.kubernetes.io/zone=")
    }
    assert len(zones) >= 2


def test_e2e_runs_what_a_user_runs() -> None:
    """One Argo CD version: the e2e workflow bootstraps through cluster-up.sh, installing no platform
    piece itself. Its one `helm install` is the classifier's chart on its own, as a user runs it."""
    workflow = (REPO_ROOT / ".github/workflows/e2e.yml").read_text()
    scripts = "".join(p.read_text() for p in (REPO_ROOT / ".github/e2e").glob("*.sh"))
    assert "cluster/cluster-up.sh" in workflow
    for installs_something in ("argo-cd", "install.yaml"):
        assert installs_something not in scripts
    assert re.findall(r"helm install \S+ \S+", scripts) == ['helm install classifier "$(dirname']
    assert "automated: null" not in scripts  # selfHeal stays on
