"""What the cluster holds that git does not say: what the pinned upstream charts install, what
`make cluster-up` creates before Argo CD syncs anything, and who the platform's clients are.
Each fact names its upstream source at the version pinned in platform/ or cluster/; the
validator's rules read them instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

GroupKind = tuple[str, str]  # (API group, kind); the core group is ""


@dataclass(frozen=True, slots=True)
class ChartCrds:
    """The CRDs an upstream chart installs, and the value that turns them off (None: always)."""

    kinds: frozenset[GroupKind]
    switch: tuple[str, ...] | None


def _kinds(group: str, *kinds: str) -> frozenset[GroupKind]:
    return frozenset((group, kind) for kind in kinds)


# (chart repository, chart name) -> CRDs, at the versions platform/*.yaml pin.
CHART_CRDS: dict[tuple[str, str], ChartCrds] = {
    # argo-helm argo-rollouts 2.40.1: templates/crds/*.yaml, `{{- if .Values.installCRDs }}`.
    ("https://argoproj.github.io/argo-helm", "argo-rollouts"): ChartCrds(
        _kinds(
            "argoproj.io",
            "Rollout",
            "AnalysisTemplate",
            "ClusterAnalysisTemplate",
            "AnalysisRun",
            "Experiment",
        ),
        ("installCRDs",),
    ),
    # kyverno 3.8.1: the `crds` subchart (Chart.yaml `condition: crds.install`).
    ("https://kyverno.github.io/kyverno/", "kyverno"): ChartCrds(
        _kinds(
            "kyverno.io",
            "ClusterPolicy",
            "Policy",
            "PolicyException",
            "ClusterCleanupPolicy",
            "CleanupPolicy",
            "UpdateRequest",
            "GlobalContextEntry",
        ),
        ("crds", "install"),
    ),
    # kube-prometheus-stack 75.15.1: the `crds` subchart (Chart.yaml `condition: crds.enabled`).
    ("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack"): ChartCrds(
        _kinds(
            "monitoring.coreos.com",
            "Alertmanager",
            "AlertmanagerConfig",
            "PodMonitor",
            "Probe",
            "Prometheus",
            "PrometheusAgent",
            "PrometheusRule",
            "ScrapeConfig",
            "ServiceMonitor",
            "ThanosRuler",
        ),
        ("crds", "enabled"),
    ),
    # kedacore/charts keda 2.17.2: templates/crds/, `{{- if .Values.crds.install }}`.
    ("https://kedacore.github.io/charts", "keda"): ChartCrds(
        _kinds(
            "keda.sh", "ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication"
        )
        | _kinds("eventing.keda.sh", "CloudEventSource", "ClusterCloudEventSource"),
        ("crds", "install"),
    ),
    # external-secrets chart 0.18.2: templates/crds/*.yaml, `{{- if .Values.installCRDs }}`.
    ("https://charts.external-secrets.io", "external-secrets"): ChartCrds(
        _kinds(
            "external-secrets.io",
            "ExternalSecret",
            "SecretStore",
            "ClusterSecretStore",
            "ClusterExternalSecret",
            "PushSecret",
            "ClusterPushSecret",
        ),
        ("installCRDs",),
    ),
}

# Custom resources an upstream chart renders itself, with the values that must all be true for
# it to (its CRD may come from another chart). argo-helm argo-rollouts 2.40.1
# templates/controller/servicemonitor.yaml: `if and .Values.controller.metrics.enabled
# .Values.controller.metrics.serviceMonitor.enabled`.
CHART_CUSTOM_RESOURCES: dict[tuple[str, str], list[tuple[GroupKind, tuple[tuple[str, ...], ...]]]] = {
    ("https://argoproj.github.io/argo-helm", "argo-rollouts"): [
        (
            ("monitoring.coreos.com", "ServiceMonitor"),
            (("controller", "metrics", "enabled"), ("controller", "metrics", "serviceMonitor", "enabled")),
        )
    ],
}

# Values of an upstream chart that name Secrets its pods need, in the Application's destination
# namespace; none is optional, so a missing Secret keeps the pods from starting. kube-prometheus-stack
# 75.15.1: Grafana's admin user and password are secretKeyRefs to `grafana.admin.existingSecret`
# (grafana chart 9.3.0 templates/_pod.tpl:394-407); prometheus-operator v0.83.0 mounts each Secret of
# the Alertmanager and Prometheus CRDs' spec.secrets as a volume `secret-<name>` (Documentation/api.md).
CHART_SECRET_VALUES: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack"): (
        ("grafana", "admin", "existingSecret"),
        ("alertmanager", "alertmanagerSpec", "secrets"),
        ("prometheus", "prometheusSpec", "secrets"),
    ),
}

# Installed by cluster/cluster-up.sh (the argo-cd chart) before the bootstrap Application exists.
PREINSTALLED_CRDS: frozenset[GroupKind] = _kinds("argoproj.io", "Application", "ApplicationSet", "AppProject")

# Namespaces that exist before Argo CD syncs anything: Kubernetes' own, and those cluster-up.sh
# creates (helm --create-namespace for ingress-nginx and argocd; `kubectl create namespace`).
PREEXISTING_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "ingress-nginx",
        "argocd",
        "platform-secrets",
    }
)

# Kinds without a namespace (Kubernetes API; the CRDs' `scope: Cluster` for custom kinds).
CLUSTER_SCOPED: frozenset[GroupKind] = (
    _kinds("", "Namespace", "Node", "PersistentVolume")
    | _kinds("rbac.authorization.k8s.io", "ClusterRole", "ClusterRoleBinding")
    | _kinds("apiextensions.k8s.io", "CustomResourceDefinition")
    | _kinds("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    | _kinds("networking.k8s.io", "IngressClass")
    | _kinds("scheduling.k8s.io", "PriorityClass")
    | _kinds("storage.k8s.io", "StorageClass")
    | _kinds("argoproj.io", "ClusterAnalysisTemplate")
    | _kinds("keda.sh", "ClusterTriggerAuthentication")
    | _kinds("eventing.keda.sh", "ClusterCloudEventSource")
    | _kinds("external-secrets.io", "ClusterSecretStore", "ClusterExternalSecret", "ClusterPushSecret")
    | _kinds("generators.external-secrets.io", "ClusterGenerator")
)


@dataclass(frozen=True, slots=True)
class Client:
    """Pods of the platform that must reach the classifier's pods through its NetworkPolicy."""

    what: str
    namespace: str
    pod_labels: dict[str, str]


# ingress-nginx chart 4.13.0 (release ingress-nginx, cluster-up.sh): the controller pods' labels
# (templates/_helpers.tpl `ingress-nginx.selectorLabels` + component).
INGRESS_CONTROLLER = Client(
    "the ingress-nginx controller",
    "ingress-nginx",
    {
        "app.kubernetes.io/name": "ingress-nginx",
        "app.kubernetes.io/instance": "ingress-nginx",
        "app.kubernetes.io/component": "controller",
    },
)
# prometheus-operator v0.83.0 labels on the Prometheus server pods of the kube-prometheus-stack
# release (Prometheus CR `kube-prometheus-stack-prometheus`, namespace monitoring).
PROMETHEUS = Client(
    "Prometheus",
    "monitoring",
    {
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/instance": "kube-prometheus-stack-prometheus",
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "prometheus": "kube-prometheus-stack-prometheus",
    },
)

# The kube-prometheus-stack release's Prometheus Service (`<fullname>-prometheus` in the release
# namespace, port 9090): what the analysis templates and the autoscaler query.
PROMETHEUS_SERVICE = "kube-prometheus-stack-prometheus.monitoring:9090"

# Every Namespace carries `kubernetes.io/metadata.name: <name>` (set by the API server since
# Kubernetes 1.22), which is what a NetworkPolicy's namespaceSelector can match.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# How long, at most, an add-on's first install may take before what needs its CRDs can sync: a
# chosen bound (kube-prometheus-stack, the slowest, pulls about ten images). An Application that
# waits on another must retry for longer; the e2e workflow gives the whole bootstrap 25 minutes.
PLATFORM_INSTALL_SECONDS = 600
