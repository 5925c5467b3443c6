"""Realistic breakages of the repository's delivery files, each one a mistake a reviewer of a
real cluster would refuse, and the problem the validator must report for it.

Each edit is made on a copy of the tree (`copy_tree`) and must change something (an anchor that is gone fails
the test instead of quietly testing nothing).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops.paths import REPO_ROOT

Edit = Callable[[Path], None]
DELIVERY_FOLDERS = (".github", "argocd", "cluster", "environments", "platform", "rollouts")


def copy_tree(target: Path) -> Path:
    """A copy of what Argo CD, cluster-up and GitHub read, for a test to break."""
    for folder in DELIVERY_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, target / folder, ignore=shutil.ignore_patterns("tests"))
    return target


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str
    edit: Edit
    expected: str  # a substring of one reported line: `scope: Kind/name: what is wrong (rule)`


def replace(path: str, old: str, new: str, count: int = 1) -> Edit:
    def edit(root: Path) -> None:
        text = (root / path).read_text()
        assert text.count(old) >= count, f"{path}: {old!r} not found"
        (root / path).write_text(text.replace(old, new, count))

    return edit


def append(path: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(target.read_text() + text if target.exists() else text)

    return edit


def both(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for each in edits:
            each(root)

    return edit


APPSET = "argocd/apps/templates/applicationset.yaml"
CONFIG_APPS = "argocd/apps/templates/platform-config.yaml"
PROJECT = "argocd/apps/templates/project-classifier.yaml"
NETWORK_POLICY = "rollouts/templates/networkpolicy.yaml"

MUTATIONS = [
    # --- unique-ingress-host -------------------------------------------------------------------
    Mutation(
        "staging copies dev's host",
        replace("environments/staging/values.yaml", "staging.classifier.local", "dev.classifier.local"),
        "classifier-staging: Ingress/classifier: host dev.classifier.local and path / are also routed by "
        "classifier-dev's Ingress/classifier",
    ),
    Mutation(
        "no environment sets its host",
        both(
            *(
                replace(
                    f"environments/{e}/values.yaml",
                    f"  host: {e}.classifier.local\n",
                    "  host: classifier.local\n",
                )
                for e in ("dev", "staging", "prod")
            )
        ),
        "(unique-ingress-host)",
    ),
    # --- unique-in-cluster ---------------------------------------------------------------------
    Mutation(
        "a cluster-scoped object in the base, applied by every environment",
        both(
            append(
                "rollouts/templates/priorityclass.yaml",
                "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
                "metadata:\n  name: classifier\nvalue: 1000\n",
            ),
            replace(
                PROJECT,
                '    - group: ""\n      kind: Namespace\n',
                '    - group: ""\n      kind: Namespace\n'
                "    - group: scheduling.k8s.io\n      kind: PriorityClass\n",
            ),
        ),
        "PriorityClass/classifier: PriorityClass.scheduling.k8s.io classifier (cluster-scoped) is also applied by",
    ),
    Mutation(
        "two Applications share a name",
        replace(CONFIG_APPS, '"name" "classifier-dashboards"', '"name" "classifier-alerts"'),
        "Application/classifier-alerts: Application.argoproj.io classifier-alerts in namespace argocd is also applied",
    ),
    # --- crd-before-use (the platform bootstrap deadlock, and its parts) ------------------------
    Mutation(
        "alert rules back in the platform Application, beside the chart that brings their CRD",
        replace(
            "platform/kustomization.yaml",
            "  - external-secrets.yaml\n",
            "  - external-secrets.yaml\n  - alerts/prometheusrule-classifier.yaml\n",
        ),
        "platform: PrometheusRule/classifier: its CRD comes from Application kube-prometheus-stack; Argo CD "
        "refuses the whole sync",
    ),
    Mutation(
        "environments without SkipDryRunOnMissingResource",
        replace(APPSET, "          - SkipDryRunOnMissingResource=true\n", ""),
        "classifier-prod: Rollout/classifier: its CRD comes from Application argo-rollouts",
    ),
    Mutation(
        "environments synced before the platform",
        replace(APPSET, 'argocd.argoproj.io/sync-wave: "0"', 'argocd.argoproj.io/sync-wave: "-5"'),
        "classifier-dev: ScaledObject/classifier: is not synced in a wave after Application keda",
    ),
    Mutation(
        "configuration in the same wave as the platform",
        replace(CONFIG_APPS, 'argocd.argoproj.io/sync-wave: "-1"', 'argocd.argoproj.io/sync-wave: "-2"'),
        "classifier-alerts: PrometheusRule/classifier: is not synced in a wave after Application "
        "kube-prometheus-stack",
    ),
    Mutation(
        "retries too short to outlast the platform install",
        replace("argocd/apps/templates/_helpers.tpl", "  limit: 10\n", "  limit: 3\n"),
        "classifier-dev: Application/classifier-dev: retries for 105s, less than the 600s",
    ),
    Mutation(
        "Argo Rollouts installed without its CRDs",
        replace("platform/argo-rollouts.yaml", "installCRDs: true", "installCRDs: false"),
        "classifier-dev: Rollout/classifier: no Application installs the CRD of Rollout.argoproj.io",
    ),
    # --- namespace-exists ----------------------------------------------------------------------
    Mutation(
        "dashboards without CreateNamespace, relying on the monitoring chart's namespace",
        replace(CONFIG_APPS, "      - CreateNamespace=true\n", ""),
        "classifier-dashboards: ConfigMap/dashboard-classifier-slo: namespace monitoring neither exists",
    ),
    Mutation(
        "a chart Application without CreateNamespace",
        replace("platform/keda.yaml", "      - CreateNamespace=true\n", ""),
        "keda: Application/keda: namespace keda neither exists",
    ),
    # --- controller-owned-fields ---------------------------------------------------------------
    Mutation(
        "the replica count back in git",
        replace(
            "rollouts/templates/rollout.yaml",
            "  revisionHistoryLimit: 5",
            "  replicas: {{ .Values.replicas.min }}\n  revisionHistoryLimit: 5",
        ),
        "classifier-prod: Rollout/classifier: spec.replicas is in git while ScaledObject/classifier owns it",
    ),
    Mutation(
        "replicas in git, ignored but not respected",
        both(
            replace(
                "rollouts/templates/rollout.yaml",
                "  revisionHistoryLimit: 5",
                "  replicas: 2\n  revisionHistoryLimit: 5",
            ),
            replace(
                APPSET,
                "      syncPolicy:\n",
                "      ignoreDifferences:\n        - group: argoproj.io\n"
                "          kind: Rollout\n          jsonPointers: [/spec/replicas]\n      syncPolicy:\n",
            ),
        ),
        "classifier-staging: Rollout/classifier: ignoreDifferences hides /spec/replicas, but without "
        "RespectIgnoreDifferences=true",
    ),
    Mutation(
        "environments server-side applied",
        replace(
            APPSET,
            "          - CreateNamespace=true\n",
            "          - CreateNamespace=true\n          - ServerSideApply=true\n",
        ),
        "classifier-prod: Service/classifier-stable: Argo Rollouts adds rollouts-pod-template-hash to this selector",
    ),
    Mutation(
        "a selector that names the hash the controller sets",
        replace(
            "rollouts/templates/service-stable.yaml",
            "    app.kubernetes.io/name: classifier\n",
            "    app.kubernetes.io/name: classifier\n    rollouts-pod-template-hash: abc123\n",
        ),
        "prod: Service/classifier-stable: selector names rollouts-pod-template-hash",
    ),
    # --- argocd-scope --------------------------------------------------------------------------
    Mutation(
        "the environments' project accepts any repository",
        replace(PROJECT, "    - {{ .Values.repoURL | quote }}", '    - "*"'),
        "bootstrap: AppProject/classifier: sourceRepos ['*'] are not exactly this repository",
    ),
    Mutation(
        "the environments' project accepts any namespace",
        replace(
            PROJECT,
            "      namespace: classifier-prod\n",
            "      namespace: classifier-prod\n"
            '    - server: https://kubernetes.default.svc\n      namespace: "*"\n',
        ),
        "bootstrap: AppProject/classifier: destinations",
    ),
    Mutation(
        "the environments' project drops staging from its destinations",
        replace(
            PROJECT, "    - server: https://kubernetes.default.svc\n      namespace: classifier-staging\n", ""
        ),
        "classifier-staging: Rollout/classifier: namespace classifier-staging is not a destination of project "
        "classifier",
    ),
    Mutation(
        "the project no longer permits Ingresses",
        replace(PROJECT, "    - {group: networking.k8s.io, kind: Ingress}\n", ""),
        "classifier-dev: Ingress/classifier: Ingress is not permitted by project classifier",
    ),
    Mutation(
        "a folder beside the environments becomes a fourth one",
        append("environments/base/values.yaml", "ingress: {host: base.classifier.local}\n"),
        "bootstrap: ApplicationSet/classifier: generates the environments ['base', 'dev', 'prod', 'staging']",
    ),
    Mutation(
        "an environment Application in the wrong namespace",
        replace(
            APPSET,
            'namespace: "{{`classifier-{{.path.basename}}`}}"',
            'namespace: "{{`{{.path.basename}}`}}"',
        ),
        "bootstrap: Application/classifier-dev: deploys into dev, not classifier-dev",
    ),
    # --- no-credentials ------------------------------------------------------------------------
    Mutation(
        "a Secret with its value in git",
        both(
            append(
                "rollouts/templates/secret-in-git.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: classifier-api-tokens\n"
                "stringData:\n  tokens: not-so-secret\n",
            ),
            replace(
                "rollouts/templates/externalsecret.yaml",
                "{{- if and .Values.platform.externalSecrets (not .Values.apiTokens.existingSecret) }}",
                "{{- if false }}",
            ),
        ),
        "classifier-dev: Secret/classifier-api-tokens: a Secret with data in git",
    ),
    Mutation(
        "a token as a literal environment variable",
        replace(
            "rollouts/templates/_pod.tpl",
            "        - name: CLASSIFIER_HOST\n",
            '        - name: UPSTREAM_API_TOKEN\n          value: "s3cr3t-value"\n'
            "        - name: CLASSIFIER_HOST\n",
        ),
        "classifier-prod: Rollout/classifier: container classifier sets UPSTREAM_API_TOKEN literally",
    ),
    Mutation(
        "Grafana's admin password in the chart values",
        replace(
            "platform/kube-prometheus-stack.yaml",
            "        grafana:\n",
            "        grafana:\n          adminPassword: hunter2\n",
        ),
        "platform: Application/kube-prometheus-stack: helm value grafana.adminPassword is a literal credential",
    ),
    Mutation(
        "a GitHub token pasted into an annotation",
        replace(
            "rollouts/templates/serviceaccount.yaml",
            "  name: classifier\n",
            "  name: classifier\n  annotations:\n    note: ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n",
        ),
        "ServiceAccount/classifier: metadata.annotations.note holds what looks like a credential",
    ),
    # --- cross-references ----------------------------------------------------------------------
    Mutation(
        "the ExternalSecret names a store that does not exist",
        replace(
            "rollouts/templates/externalsecret.yaml",
            "    name: platform-secrets",
            "    name: platform-secret",
        ),
        "classifier-dev: ExternalSecret/classifier-api-tokens: ClusterSecretStore platform-secret does not exist",
    ),
    Mutation(
        "the ServiceMonitor lacks the label Prometheus selects",
        replace("rollouts/templates/servicemonitor.yaml", "    release: kube-prometheus-stack\n", ""),
        "classifier-dev: ServiceMonitor/classifier: lacks the labels {'release': 'kube-prometheus-stack'}",
    ),
    Mutation(
        "the autoscaler queries a Prometheus that does not exist",
        replace(
            "rollouts/templates/scaledobject.yaml",
            "kube-prometheus-stack-prometheus.monitoring",
            "prometheus.monitoring",
        ),
        "ScaledObject/classifier: spec.triggers[0].metadata.serverAddress points at prometheus.monitoring:9090",
    ),
    Mutation(
        "Alertmanager mounts a Secret the ExternalSecret no longer creates",
        replace(
            "platform/credentials/alertmanager-receivers.yaml",
            "  target:\n    name: alertmanager-receivers\n",
            "  target:\n    name: alertmanager-credentials\n",
        ),
        "platform: Application/kube-prometheus-stack: alertmanager.alertmanagerSpec.secrets names Secret "
        "alertmanager-receivers, which nothing here creates in monitoring",
    ),
    Mutation(
        "kube-prometheus-stack synced before the Secrets its pods read (a first install that never ends)",
        replace("platform/kube-prometheus-stack.yaml", 'sync-wave: "-7"', 'sync-wave: "-10"'),
        "platform: Application/kube-prometheus-stack: grafana.admin.existingSecret needs Secret grafana-admin, "
        "which ExternalSecret/grafana-admin (Application platform) creates in a later wave",
    ),
    Mutation(
        "the platform's ExternalSecrets synced before the store they read",
        replace("platform/secret-store/kustomization.yaml", 'sync-wave: "-9"', 'sync-wave: "-7"'),
        "platform: ExternalSecret/grafana-admin: spec.secretStoreRef needs ClusterSecretStore platform-secrets, "
        "which ClusterSecretStore/platform-secrets (Application platform) creates in a later wave",
    ),
    Mutation(
        "the autoscaler's fallback over a trigger KEDA cannot fall back from",
        replace(
            "rollouts/templates/scaledobject.yaml",
            "      metricType: AverageValue\n",
            "      metricType: Value\n",
        ),
        "dev: ScaledObject/classifier: KEDA's webhook refuses the fallback",
    ),
    # --- references (per environment) ----------------------------------------------------------
    Mutation(
        "the Ingress routes to a port the Service lacks",
        replace(
            "rollouts/templates/ingress.yaml", "                  name: http", "                  name: web"
        ),
        "dev: Ingress/classifier: backend Service classifier has no port 'web' (references)",
    ),
    Mutation(
        "the ServiceMonitor scrapes a port name no Service has",
        replace("rollouts/templates/servicemonitor.yaml", "    - port: metrics", "    - port: metric"),
        "prod: ServiceMonitor/classifier: endpoint port 'metric' is not a port name",
    ),
    Mutation(
        "the Rollout names a canary Service that does not exist",
        replace(
            "rollouts/templates/rollout.yaml",
            "canaryService: classifier-canary",
            "canaryService: classifier-preview",
        ),
        "dev: Rollout/classifier: canaryService classifier-preview does not exist",
    ),
    Mutation(
        "nginx traffic routing, but the Ingress does not route to the stable Service",
        replace("rollouts/templates/_helpers.tpl", "-}}\nclassifier-stable\n", "-}}\nclassifier\n"),
        "prod: Rollout/classifier: ingress `classifier` has no rules using service classifier-stable backend",
    ),
    Mutation(
        "a pod mounts a Secret nothing provides",
        append("environments/staging/values.yaml", "apiTokens:\n  existingSecret: classifier-tokens\n"),
        "staging: Rollout/classifier: volume api-tokens reads Secret classifier-tokens",
    ),
    Mutation(
        "a service account that does not exist",
        replace(
            "rollouts/templates/_pod.tpl",
            "  serviceAccountName: classifier\n",
            "  serviceAccountName: classifier-sa\n",
        ),
        "dev: Rollout/classifier: serviceAccountName classifier-sa does not exist",
    ),
    # --- network-reach -------------------------------------------------------------------------
    Mutation(
        "the NetworkPolicy admits Prometheus from the wrong namespace",
        replace(
            NETWORK_POLICY,
            "kubernetes.io/metadata.name: monitoring",
            "kubernetes.io/metadata.name: prometheus",
        ),
        "prod: ServiceMonitor/classifier: Prometheus (namespace monitoring) cannot reach port metrics",
    ),
    Mutation(
        "the NetworkPolicy admits the ingress controller by a label it does not carry",
        replace(
            NETWORK_POLICY,
            "              app.kubernetes.io/name: ingress-nginx",
            "              app: ingress-nginx",
        ),
        "dev: Ingress/classifier: the ingress-nginx controller (namespace ingress-nginx) cannot reach port http",
    ),
    Mutation(
        "the NetworkPolicy opens the wrong port to the ingress controller",
        replace(NETWORK_POLICY, "        - port: http", "        - port: 8080"),
        "staging: Ingress/classifier: the ingress-nginx controller (namespace ingress-nginx) cannot reach port http",
    ),
    # --- availability --------------------------------------------------------------------------
    Mutation(
        "a PodDisruptionBudget that allows no eviction",
        replace("rollouts/templates/pdb.yaml", "  maxUnavailable: 1", "  maxUnavailable: 0"),
        "dev: PodDisruptionBudget/classifier: allows no voluntary eviction at 1 replica(s)",
    ),
    Mutation(
        "prod scales down to one pod",
        replace("environments/prod/values.yaml", "replicas: {min: 4,", "replicas: {min: 1,"),
        "prod: Rollout/classifier: prod may run 1 replica(s): losing one pod is an outage",
    ),
    Mutation(
        "prod spread over zones only when convenient",
        replace("environments/prod/values.yaml", "zoneSpread: DoNotSchedule", "zoneSpread: ScheduleAnyway"),
        "prod: Rollout/classifier: not spread over zones with whenUnsatisfiable: DoNotSchedule",
    ),
    # --- scoped-queries ------------------------------------------------------------------------
    Mutation(
        "the autoscaler's query names one environment's namespace",
        replace(
            "rollouts/templates/scaledobject.yaml",
            'namespace="{{ .Release.Namespace }}"',
            'namespace="classifier-prod"',
        ),
        "staging: ScaledObject/classifier: query reads namespace classifier-prod, not its own (classifier-staging)",
    ),
    # --- crd-before-use for what upstream charts render ---------------------------------------
    Mutation(
        "Argo Rollouts synced beside the chart that installs its ServiceMonitor's CRD",
        replace(
            "platform/argo-rollouts.yaml",
            'argocd.argoproj.io/sync-wave: "-6"',
            'argocd.argoproj.io/sync-wave: "-7"',
        ),
        "argo-rollouts: ServiceMonitor/argo-rollouts-chart: is not synced in a wave after Application kube-prometheus-stack",
    ),
    Mutation(
        "the Argo Rollouts chart without SkipDryRunOnMissingResource",
        replace("platform/argo-rollouts.yaml", "      - SkipDryRunOnMissingResource=true\n", ""),
        "argo-rollouts: ServiceMonitor/argo-rollouts-chart: its CRD comes from Application kube-prometheus-stack",
    ),
    # --- argocd-scope: AppProject permissions as Argo CD reads them ------------------------------
    Mutation(
        "the environments' project without a cluster whitelist, so CreateNamespace is refused",
        replace(PROJECT, '  clusterResourceWhitelist:\n    - group: ""\n      kind: Namespace\n', ""),
        "classifier-prod: Namespace/classifier-prod: Namespace is not permitted by project classifier",
    ),
    Mutation(
        "a kind on the project's blacklist",
        replace(
            PROJECT,
            "  orphanedResources:\n",
            "  namespaceResourceBlacklist:\n    - {group: networking.k8s.io, kind: Ingress}\n  orphanedResources:\n",
        ),
        "classifier-staging: Ingress/classifier: Ingress is not permitted by project classifier",
    ),
    # --- canary-options --------------------------------------------------------------------------
    Mutation(
        "dev's basic canary keeps aborted pods it cannot keep",
        replace(
            "rollouts/templates/rollout.yaml",
            "      maxUnavailable: 0\n",
            "      maxUnavailable: 0\n      abortScaleDownDelaySeconds: 30\n",
        ),
        "dev: Rollout/classifier: abortScaleDownDelaySeconds without trafficRouting: a basic canary ignores it",
    ),
    # --- workflows -------------------------------------------------------------------------------
    Mutation(
        "deploy-dev pushes with GITHUB_TOKEN",
        replace(
            ".github/workflows/deploy-dev.yml",
            "        env:\n          GH_TOKEN: ${{ steps.app-token.outputs.token }}\n        run: |\n          git remote set-url",
            "        env:\n          GH_TOKEN: ${{ github.token }}\n        run: |\n          git remote set-url",
        ),
        ".github/workflows/deploy-dev.yml: job bump: hands GITHUB_TOKEN to a push",
    ),
    Mutation(
        "promote opens its pull request without an App token",
        replace(
            ".github/workflows/promote.yml",
            "uses: actions/create-github-app-token@",
            "uses: actions/github-script@",
        ),
        ".github/workflows/promote.yml: job promote: pushes or opens a pull request without a GitHub App's token",
    ),
    Mutation(
        "deploy-dev pushes the commit that was built, not main",
        replace(".github/workflows/deploy-dev.yml", "          ref: main\n", ""),
        ".github/workflows/deploy-dev.yml: job bump: pushes to main from the commit that triggered it",
    ),
    Mutation(
        "deploy-dev pushes once and fails when main moved",
        replace(".github/workflows/deploy-dev.yml", "git pull --rebase origin main", "true"),
        ".github/workflows/deploy-dev.yml: job bump: pushes to main once",
    ),
    Mutation(
        "a pull request's image is loaded with attestations",
        replace(
            ".github/workflows/ci.yml",
            "          load: true\n",
            "          load: true\n          sbom: true\n",
        ),
        ".github/workflows/ci.yml: job image: on refs/pull/1/merge loads the image with SBOM or provenance",
    ),
    Mutation(
        "a pull request's build may push packages and sign",
        replace(
            ".github/workflows/ci.yml",
            "    timeout-minutes: 40\n    permissions:\n      contents: read\n    steps:\n",
            "    timeout-minutes: 40\n    permissions:\n      contents: read\n      packages: write\n"
            "      id-token: write\n    steps:\n",
        ),
        ".github/workflows/ci.yml: job image: may run for a pull request with id-token, packages: write",
    ),
    Mutation(
        "the publishing job runs for pull requests too",
        replace(
            ".github/workflows/ci.yml",
            "    if: needs.changes.outputs.build == 'true' && github.ref == 'refs/heads/main'\n"
            "    runs-on: ubuntu-24.04\n    timeout-minutes: 40\n",
            "    if: needs.changes.outputs.build == 'true'\n    runs-on: ubuntu-24.04\n    timeout-minutes: 40\n",
        ),
        ".github/workflows/ci.yml: job publish: may run for a pull request with attestations, id-token, packages: write",
    ),
    Mutation(
        "secret scanning through gitleaks-action again",
        replace(
            ".github/workflows/ci.yml",
            "      - name: Dependency audit (every lock; pip-audit is in the .venv's lock)\n",
            "      - uses: gitleaks/gitleaks-action@ff98106e4c7b2bc287b24eaf42907196329070c7 # v2.3.9\n"
            "      - name: Dependency audit (every lock; pip-audit is in the .venv's lock)\n",
        ),
        ".github/workflows/ci.yml: job test: uses gitleaks-action",
    ),
    Mutation(
        "every push builds, deploy-dev's own commits included",
        both(
            replace(".github/workflows/ci.yml", "    if: needs.changes.outputs.build == 'true'\n", ""),
            replace(
                ".github/workflows/ci.yml",
                "    if: needs.changes.outputs.build == 'true' && github.ref == 'refs/heads/main'\n"
                "    runs-on: ubuntu-24.04\n    timeout-minutes: 40\n",
                "    if: github.ref == 'refs/heads/main'\n    runs-on: ubuntu-24.04\n    timeout-minutes: 40\n",
            ),
        ),
        ".github/workflows/ci.yml: job deploy-dev: commits to environments/ on every push",
    ),
    Mutation(
        "an action pinned by its tag, which can be moved",
        replace(
            ".github/workflows/e2e.yml",
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
            "actions/checkout@v4.2.2",
        ),
        ".github/workflows/e2e.yml: actions/checkout: line 33: actions/checkout@v4.2.2 is not pinned to a full commit SHA",
    ),
    Mutation(
        "an action pinned by commit with no tag to check it against",
        replace(
            ".github/workflows/ci.yml",
            "docker/login-action@74a5d142397b4f367a81961eba4e8cd7edddf772 # v3.4.0",
            "docker/login-action@74a5d142397b4f367a81961eba4e8cd7edddf772",
        ),
        "has no `# vX.Y.Z` comment naming the tag it is (workflow-action-pinned)",
    ),
    Mutation(
        "a workflow that writes by default",
        replace(
            ".github/workflows/promote.yml",
            "permissions:\n  contents: read\n",
            "permissions:\n  contents: write\n",
        ),
        ".github/workflows/promote.yml: permissions: top-level permissions are {'contents': 'write'}",
    ),
    Mutation(
        "a write granted to the whole workflow reaches the pull request's jobs",
        replace(
            ".github/workflows/ci.yml",
            "permissions:\n  contents: read\n",
            "permissions:\n  contents: read\n  packages: write\n",
        ),
        ".github/workflows/ci.yml: job test: may run for a pull request with packages: write; run it on main only",
    ),
    Mutation(
        "CI's test container by a tag that moves",
        replace(
            ".github/workflows/ci.yml",
            "container: debian:bookworm@sha256:813017f3d62be4b5891a7acca6a01bdcd4b8513daa81b1ab99d3a50385b26931",
            "container: debian:bookworm",
        ),
        ".github/workflows/ci.yml: job test: container image debian:bookworm is not pinned by digest",
    ),
    Mutation(
        "prod runs images nobody verifies at admission",
        append("environments/prod/values.yaml", "platform:\n  kyverno: false\n"),
        "classifier-prod: namespace/classifier-prod: no Kyverno policy verifies "
        "ghcr.io/model-serving-gitops/classifier@sha256:",
    ),
    Mutation(
        "an image policy Kyverno never runs at admission",
        replace("rollouts/templates/image-policy.yaml", "  admission: true\n", "  admission: false\n"),
        "classifier-dev: namespace/classifier-dev: no Kyverno policy verifies",
    ),
    Mutation(
        "image verification that only audits",
        replace(
            "rollouts/templates/image-policy.yaml",
            "          failureAction: Enforce\n          required: true\n",
            "          failureAction: Audit\n          required: true\n",
        ),
        "classifier-dev: namespace/classifier-dev: the Kyverno policies verifying "
        "ghcr.io/model-serving-gitops/classifier@sha256:",
    ),
    Mutation(
        "admission trusts a signature made on another branch",
        replace(
            "argocd/apps/templates/applicationset.yaml",
            '/.github/workflows/ci.yml@refs/heads/main" (trimSuffix',
            '/.github/workflows/ci.yml@refs/heads/feature" (trimSuffix',
        ),
        "classifier-staging: namespace/classifier-staging: the Kyverno policies verifying",
    ),
    Mutation(
        "the environments' namespaces admit any pod",
        replace(
            "argocd/apps/templates/applicationset.yaml",
            "            pod-security.kubernetes.io/enforce: restricted\n",
            "",
        ),
        "Application/classifier-dev: namespace classifier-dev does not enforce the restricted Pod Security Standard",
    ),
    Mutation(
        "namespace metadata Argo CD never applies",
        replace("argocd/apps/templates/applicationset.yaml", "          - CreateNamespace=true\n", ""),
        "managedNamespaceMetadata without CreateNamespace=true: Argo CD ignores it (pod-security-restricted)",
    ),
    Mutation(
        "a ClusterSecretStore every namespace may read",
        replace(
            "platform/secret-store/cluster-secret-store.yaml",
            "  conditions:\n    - namespaces: [classifier-dev, classifier-staging, classifier-prod, monitoring]\n",
            "",
        ),
        "ClusterSecretStore/platform-secrets: has no spec.conditions: it serves every namespace",
    ),
    Mutation(
        "a namespace left out of the store it reads",
        replace("platform/secret-store/cluster-secret-store.yaml", ", monitoring]", "]"),
        "ExternalSecret/alertmanager-receivers: in namespace monitoring reads ClusterSecretStore/platform-secrets, "
        "whose conditions do not allow that namespace",
    ),
    # --- the chart's values: a mistake in an environment's file fails its render ---------------
    Mutation(
        "a values key misspelt",
        replace("environments/prod/values.yaml", "replicas: {min: 4, max: 20}", "replica: {min: 4, max: 20}"),
        "Application/classifier-prod: helm template rollouts: values don't meet the specifications",
    ),
    Mutation(
        "prod drops its readiness probe through its values",
        append("environments/prod/values.yaml", "probes:\n  readiness: null\n"),
        "at '/probes': missing property 'readiness'",
    ),
    Mutation(
        "prod runs a tag",
        replace(
            "environments/prod/values.yaml",
            "  digest: sha256:4c1f1d2ac8f1d7e5b0f7cf3e33b7f7d0a3e6a1c9f0b2d4e6f8a0c2e4a6b8d0f2  # what promotion changes\n",
            "  tag: 0.1.0\n",
        ),
        "prod: Rollout/classifier container classifier: ghcr.io/model-serving-gitops/classifier:0.1.0 is not "
        "pinned by digest (@sha256:...), required in prod (images)",
    ),
    # --- secret-store-least-privilege, secrets-per-environment, admin-credentials-from-store -------
    Mutation(
        "the secret store's Role reads every Secret in its namespace",
        replace(
            "cluster/secret-store-access.yaml",
            "    resourceNames:\n      - classifier-dev-api-tokens\n      - classifier-staging-api-tokens\n"
            "      - classifier-prod-api-tokens\n      - alertmanager-receivers\n      - grafana-admin\n",
            "",
        ),
        "cluster-up: Role/secret-reader: grants get on every Secret in platform-secrets",
    ),
    Mutation(
        "the secret store's Role may list and watch Secrets",
        replace(
            "cluster/secret-store-access.yaml",
            '    verbs: ["get"]\n',
            '    verbs: ["get", "list", "watch"]\n',
        ),
        "cluster-up: Role/secret-reader: grants get, list, watch on Secrets in platform-secrets",
    ),
    Mutation(
        "the secret store's account may also read ConfigMaps",
        replace(
            "cluster/secret-store-access.yaml",
            '    resources: ["secrets"]\n',
            '    resources: ["secrets", "configmaps"]\n',
        ),
        "cluster-up: Role/secret-reader: grants get on configmaps to the account of store platform-secrets",
    ),
    Mutation(
        "an ExternalSecret that finds Secrets by pattern",
        append(
            "platform/credentials/grafana-admin.yaml",
            "  dataFrom:\n    - find:\n        name:\n          regexp: grafana-.*\n",
        ),
        "platform: ExternalSecret/grafana-admin: uses dataFrom.find, which lists every Secret in platform-secrets",
    ),
    Mutation(
        "prod's tokens not granted to the secret store",
        replace("cluster/secret-store-access.yaml", "      - classifier-prod-api-tokens\n", ""),
        "classifier-prod: ExternalSecret/classifier-api-tokens: reads classifier-prod-api-tokens from "
        "ClusterSecretStore/platform-secrets, whose service account may not get it",
    ),
    Mutation(
        "every environment reads one token",
        replace(
            "rollouts/templates/externalsecret.yaml",
            "key: {{ .Release.Namespace }}-api-tokens",
            "key: classifier-api-tokens",
        ),
        "classifier-prod: ExternalSecret/classifier-api-tokens: reads classifier-api-tokens, which dev, staging also read",
    ),
    Mutation(
        "Grafana's admin password left at the chart's default",
        replace(
            "platform/kube-prometheus-stack.yaml",
            "          admin:\n            existingSecret: grafana-admin\n",
            "          admin:\n            existingSecret: ''\n",
        ),
        "Application/kube-prometheus-stack: grafana.admin.existingSecret is not set: the admin password is the chart's default",
    ),
    Mutation(
        "Grafana's admin Secret that nothing fills",
        replace(
            "platform/credentials/grafana-admin.yaml",
            "    - secretKey: admin-password\n",
            "    - secretKey: password\n",
        ),
        "Application/kube-prometheus-stack: grafana.admin.existingSecret names grafana-admin, but no ExternalSecret in monitoring fills it with admin-password",
    ),
    # --- analysis-limits -------------------------------------------------------------------------
    Mutation(
        "the step analysis passes on three inconclusive measurements (the old limits)",
        replace(
            "rollouts/files/analysis-step.yaml",
            "    inconclusiveLimit: 0\n",
            "    inconclusiveLimit: 3\n",
            count=2,
        ),
        "dev: AnalysisTemplate/classifier-canary-step metric error-rate: its limits let a run end Successful without one passing measurement",
    ),
    Mutation(
        "the step analysis passes after a failed measurement",
        replace(
            "rollouts/files/analysis-step.yaml", "    failureLimit: 0\n", "    failureLimit: 1\n", count=2
        ),
        "prod: AnalysisTemplate/classifier-canary-step metric latency-p99: it gates full promotion, yet its limits let a run end Successful after a failed or inconclusive measurement",
    ),
    Mutation(
        "success and failure conditions overlap at the threshold",
        replace("rollouts/files/analysis-background.yaml", "result[0] > 0.0144", "result[0] >= 0.0144"),
        "staging: AnalysisTemplate/classifier-canary-background metric error-rate: 0.0144 both passes and fails",
    ),
    Mutation(
        "a gap between the success and failure thresholds",
        replace("rollouts/files/analysis-step.yaml", "result[0] > 0.3", "result[0] > 0.5"),
        "dev: AnalysisTemplate/classifier-canary-step metric latency-p99: just above 0.3 neither passes nor fails",
    ),
    Mutation(
        "no data counted as a pass",
        replace(
            "rollouts/files/analysis-step.yaml",
            "successCondition: len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.0144",
            "successCondition: len(result) == 0 || isNaN(result[0]) || result[0] <= 0.0144",
        ),
        "dev: AnalysisTemplate/classifier-canary-step metric error-rate: no data ([]) passes",
    ),
    Mutation(
        "promoted after the last pause, with no step analysis",
        replace(
            "rollouts/templates/_canary.tpl",
            "- analysis:\n    templates:\n      - templateName: classifier-canary-step\n"
            "      - templateName: classifier-quality-paired\n    args:\n"
            '      {{- include "classifier.analysisArgs" (dict "stable" false) | nindent 6 }}\n',
            "",
        ),
        "dev: Rollout/classifier: its canary's last step analysis is followed by pause",
    ),
    Mutation(
        "failed measurements never fail the background analysis",
        replace(
            "rollouts/files/analysis-background.yaml",
            "    failureLimit: 1\n",
            "    failureLimit: -1\n",
            count=2,
        ),
        "prod: AnalysisTemplate/classifier-canary-background metric error-rate: failureLimit is negative",
    ),
    Mutation(
        "the background analysis stops guarding after three passes",
        replace(
            "rollouts/files/analysis-background.yaml",
            "    failureLimit: 1\n",
            "    failureLimit: 1\n    consecutiveSuccessLimit: 3\n",
        ),
        "staging: AnalysisTemplate/classifier-canary-background metric error-rate: consecutiveSuccessLimit 3 ends the run Successful",
    ),
    Mutation(
        "every metric of the promotion gate in dry-run",
        replace(
            "rollouts/files/analysis-step.yaml",
            "spec:\n  args:\n",
            "spec:\n  dryRun:\n  - metricName: .*\n  args:\n",
        ),
        "dev: AnalysisTemplate/classifier-canary-step: every metric is dry-run",
    ),
    Mutation(
        "an interval Argo Rollouts cannot parse",
        replace("rollouts/files/analysis-step.yaml", "    interval: 1m\n", "    interval: '60'\n"),
        "dev: AnalysisTemplate/classifier-canary-step metric error-rate: cannot be checked: time: invalid duration",
    ),
    Mutation(
        "an autoscaler trigger on CPU, with no metrics-server to read it",
        replace(
            "rollouts/templates/scaledobject.yaml",
            '        threshold: "8"\n',
            '        threshold: "8"\n    - type: cpu\n      metricType: Utilization\n      metadata:\n        value: "75"\n',
        ),
        "classifier-prod: ScaledObject/classifier: its cpu trigger reads the resource metrics API",
    ),
    # --- analysis-jobs (the paired model-quality Job) ---------------------------------------------
    Mutation(
        "a model-quality Job without a deadline",
        replace("rollouts/files/analysis-quality-paired.yaml", "          activeDeadlineSeconds: 300\n", ""),
        "dev: AnalysisTemplate/classifier-quality-paired metric paired-check: no activeDeadlineSeconds",
    ),
    Mutation(
        "a model-quality Job retried as Kubernetes retries by default",
        replace("rollouts/files/analysis-quality-paired.yaml", "          backoffLimit: 0\n", ""),
        "dev: AnalysisTemplate/classifier-quality-paired metric paired-check: backoffLimit 6",
    ),
    Mutation(
        "a model-quality Job that may write its root filesystem",
        replace(
            "rollouts/files/analysis-quality-paired.yaml",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
        ),
        "dev: Job/classifier-quality-paired.paired-check container quality-check: readOnlyRootFilesystem is not true",
    ),
    Mutation(
        "a model-quality Job its NetworkPolicy does not select",
        replace(
            "rollouts/templates/networkpolicy-quality-check.yaml",
            "      app.kubernetes.io/name: classifier-quality-check\n  policyTypes",
            "      app.kubernetes.io/name: quality-check\n  policyTypes",
        ),
        "dev: NetworkPolicy/classifier-quality-check: podSelector {'app.kubernetes.io/name': 'quality-check'} matches no pod template",
    ),
    Mutation(
        "a drill's defective model allowed in prod",
        replace(
            "rollouts/templates/_pod.tpl",
            "        - name: CLASSIFIER_HOST\n",
            '        - name: CLASSIFIER_ALLOW_DRILL_DEFECTS\n          value: "true"\n'
            "        - name: CLASSIFIER_HOST\n",
        ),
        "prod: Rollout/classifier container classifier: sets CLASSIFIER_ALLOW_DRILL_DEFECTS, a drill-only setting",
    ),
    Mutation(
        "a model-quality Job that cannot read its token",
        replace("rollouts/files/analysis-quality-paired.yaml", "                fsGroup: 10001\n", ""),
        "dev: Job/classifier-quality-paired.paired-check: volume api-tokens is mounted with mode 0440 and the pod sets no fsGroup",
    ),
    Mutation(
        "a canary scaled before traffic, without a traffic router",
        replace(
            "rollouts/templates/_canary.tpl",
            "{{- else }}\n{{- range $index, $step := .Values.canary.steps }}\n",
            "{{- else }}\n- setCanaryScale: {replicas: 1}\n{{- range $index, $step := .Values.canary.steps }}\n",
        ),
        "dev: Rollout/classifier: a setCanaryScale step without trafficRouting",
    ),
    Mutation(
        "the stable arm of the live model-quality comparison read from the Rollout, not its pods",
        replace(
            "rollouts/templates/_canary.tpl",
            "- name: stable-hash\n  valueFrom:\n    podTemplateHashValue: Stable\n",
            "- name: stable-hash\n  valueFrom:\n    fieldRef:\n"
            "      fieldPath: metadata.labels['rollouts-pod-template-hash']\n",
        ),
        "dev: Rollout/classifier: stable-hash is not passed as valueFrom.podTemplateHashValue: Stable",
    ),
]
