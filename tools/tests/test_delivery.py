"""The model of what Argo CD deploys: followed from the bootstrap as Argo CD follows it."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from gitops import delivery, delivery_policies
from gitops.applicationsets import matching_directories
from gitops.argocd_sources import SourceError, build_environment, envsubst, helm_values
from gitops.paths import REPO_ROOT

from .mutations import copy_tree, replace


@pytest.fixture(scope="module")
def cluster() -> delivery.Delivery:
    return delivery.load(REPO_ROOT)


def bootstrap(**source: str) -> dict[str, object]:
    document = yaml.safe_load((REPO_ROOT / "argocd/bootstrap.yaml").read_text())
    document["spec"]["source"].update(source)
    return dict(document)


def test_the_bootstrap_reaches_every_application_in_wave_order(cluster: delivery.Delivery) -> None:
    layout = {app.name: (app.parent, app.wave) for app in cluster.applications}
    assert layout == {
        "bootstrap": ("cluster-up", 0),
        "platform": ("bootstrap", -2),
        "classifier-alerts": ("bootstrap", -1),
        "classifier-dashboards": ("bootstrap", -1),
        "classifier-dev": ("bootstrap", 0),
        "classifier-staging": ("bootstrap", 0),
        "classifier-prod": ("bootstrap", 0),
        "argo-rollouts": ("platform", -6),
        "kube-prometheus-stack": ("platform", -7),
        "keda": ("platform", -10),
        "external-secrets": ("platform", -10),
        "kyverno": ("platform", -10),
    }
    assert {app.name: app.environment for app in cluster.applications if app.environment} == {
        "classifier-dev": "dev",
        "classifier-staging": "staging",
        "classifier-prod": "prod",
    }
    assert cluster.generated_by == dict.fromkeys(
        ("classifier-dev", "classifier-prod", "classifier-staging"), "classifier"
    )


def test_every_application_follows_the_bootstrap_repository_and_revision() -> None:
    fork = "https://github.com/someone/fork.git"
    cluster = delivery.load(REPO_ROOT, bootstrap(repoURL=fork, targetRevision="feature-x"))
    for app in cluster.applications:
        if app.objects is not None:
            assert (app.source["repoURL"], app.source["targetRevision"]) == (fork, "feature-x"), app.name
    assert delivery_policies.check(cluster) == []


def test_an_application_pinned_to_one_revision_is_refused(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    pin = "targetRevision: {{ .root.Values.revision | quote }}"
    replace("argocd/apps/templates/_helpers.tpl", pin, "targetRevision: main")(root)
    problems = [
        str(p) for p in delivery_policies.check(delivery.load(root, bootstrap(targetRevision="feature-x")))
    ]
    assert any(
        "Application/classifier-alerts: reads revision main, not the bootstrap's (feature-x)" in p
        for p in problems
    )


def test_services_kept_off_server_side_apply_by_annotation_are_accepted(tmp_path: Path) -> None:
    """argo-cd #20306's fix: SSA for the Application, `ServerSideApply=false` on the Services."""
    root = copy_tree(tmp_path)
    server_side = "- CreateNamespace=true\n          - ServerSideApply=true"
    replace("argocd/apps/templates/applicationset.yaml", "- CreateNamespace=true", server_side)(root)
    assert any(p.policy == "controller-owned-fields" for p in delivery_policies.check(delivery.load(root)))
    for name in ("classifier-stable", "classifier-canary"):
        replace(
            f"rollouts/templates/service-{name.removeprefix('classifier-')}.yaml",
            f"  name: {name}\n",
            f"  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-options: ServerSideApply=false\n",
        )(root)
    assert [
        p for p in delivery_policies.check(delivery.load(root)) if p.policy == "controller-owned-fields"
    ] == []


def test_git_directory_generator_matches_like_go_path_match(tmp_path: Path) -> None:
    for folder in ("environments/dev/patches", "environments/prod", "environments/.hidden", "other/dev"):
        (tmp_path / folder).mkdir(parents=True)
    assert matching_directories(tmp_path, [{"path": "environments/*"}]) == [
        "environments/dev",
        "environments/prod",
    ]
    assert matching_directories(
        tmp_path, [{"path": "environments/*"}, {"path": "environments/prod", "exclude": True}]
    ) == ["environments/dev"]
    assert matching_directories(tmp_path, [{"path": "*/dev"}]) == ["environments/dev", "other/dev"]


def test_build_environment_has_every_variable_argo_cds_repo_server_sets() -> None:
    """argo-cd v3.1.8 reposerver/repository/repository.go newEnv: nine variables."""
    app = bootstrap(targetRevision="0123456789abcdef")
    variables = build_environment(app)
    assert sorted(variables) == [
        "ARGOCD_APP_NAME",
        "ARGOCD_APP_NAMESPACE",
        "ARGOCD_APP_PROJECT_NAME",
        "ARGOCD_APP_REVISION",
        "ARGOCD_APP_REVISION_SHORT",
        "ARGOCD_APP_REVISION_SHORT_8",
        "ARGOCD_APP_SOURCE_PATH",
        "ARGOCD_APP_SOURCE_REPO_URL",
        "ARGOCD_APP_SOURCE_TARGET_REVISION",
    ]
    assert variables["ARGOCD_APP_REVISION_SHORT"] == "0123456"
    assert variables["ARGOCD_APP_REVISION_SHORT_8"] == "01234567"
    assert variables["ARGOCD_APP_PROJECT_NAME"] == "default"  # bootstrap.yaml names no other project


def test_build_environment_is_substituted_like_argo_cds_envsubst() -> None:
    variables = {"ARGOCD_APP_NAME": "bootstrap", "ARGOCD_APP_SOURCE_TARGET_REVISION": "main"}
    assert envsubst("$ARGOCD_APP_NAME-${ARGOCD_APP_SOURCE_TARGET_REVISION}", variables) == "bootstrap-main"
    assert envsubst("$$ARGOCD_APP_NAME and $UNKNOWN.", variables) == "$ARGOCD_APP_NAME and ."


def test_helm_parameters_override_values_and_force_strings() -> None:
    app = copy.deepcopy(bootstrap())
    app["spec"]["source"]["helm"] = {  # type: ignore[index]
        "valuesObject": {"localCluster": {"enabled": False, "image": "a"}, "revision": "x"},
        "parameters": [
            {"name": "localCluster.enabled", "value": "true"},
            {"name": "revision", "value": "$ARGOCD_APP_SOURCE_TARGET_REVISION"},
            {"name": "localCluster.image", "value": "0123", "forceString": True},
        ],
    }
    assert helm_values(app) == {"localCluster": {"enabled": True, "image": "0123"}, "revision": "main"}


def test_value_files_come_first_and_stay_in_the_repository(tmp_path: Path) -> None:
    """valueFiles in order, then valuesObject, then parameters; a file outside the repository or
    missing fails the render as it fails Argo CD's."""
    (tmp_path / "chart").mkdir()
    (tmp_path / "env").mkdir()
    (tmp_path / "common.yaml").write_text("a: {b: 1, c: 1}\nd: 1\n")
    (tmp_path / "env/values.yaml").write_text("a: {b: 2}\n")
    app = copy.deepcopy(bootstrap())
    app["spec"]["source"]["path"] = "chart"  # type: ignore[index]
    app["spec"]["source"]["helm"] = {  # type: ignore[index]
        "valueFiles": ["../common.yaml", "/env/values.yaml"],
        "valuesObject": {"d": 2},
        "parameters": [{"name": "a.c", "value": "3"}],
    }
    assert helm_values(app, tmp_path) == {"a": {"b": 2, "c": 3}, "d": 2}
    app["spec"]["source"]["helm"]["valueFiles"] = ["../../outside.yaml"]  # type: ignore[index]
    with pytest.raises(SourceError, match="resolves outside the repository"):
        helm_values(app, tmp_path)
    app["spec"]["source"]["helm"]["valueFiles"] = ["missing.yaml"]  # type: ignore[index]
    with pytest.raises(SourceError, match="does not exist"):
        helm_values(app, tmp_path)
    app["spec"]["source"]["helm"]["ignoreMissingValueFiles"] = True  # type: ignore[index]
    assert helm_values(app, tmp_path) == {"d": 2, "a": {"c": 3}}


def test_unrenderable_sources_are_reported_not_skipped(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    shutil.rmtree(root / "platform/dashboards")
    (root / "platform/dashboards").mkdir()
    with pytest.raises(
        delivery.DeliveryError, match="platform/dashboards is neither a Helm chart nor a kustomization"
    ):
        delivery.load(root)
