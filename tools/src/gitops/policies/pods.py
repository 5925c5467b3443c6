"""Pod hygiene: probes for every workload; resources, hardening and pinned images for every pod,
the analysis's Jobs included (a Job runs to completion: no probe tells anything about it)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gitops.policies.base import Context, Problem, containers, pod_spec, policy
from gitops.render import describe

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@policy("probes")
def probes_present(context: Context) -> Iterator[Problem]:
    for workload in context.workloads():
        for container in pod_spec(workload).get("containers", []):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe not in container:
                    yield Problem(
                        "probes",
                        f"{describe(workload)} container {container['name']}",
                        f"no {probe}: Kubernetes cannot tell when it is ready, alive or still starting",
                    )


@policy("resources")
def requests_and_limits(context: Context) -> Iterator[Problem]:
    for workload in context.pod_owners():
        for container in containers(workload):
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(section, {}):
                        yield Problem(
                            "resources",
                            f"{describe(workload)} container {container['name']}",
                            f"no {section}.{resource}: scheduling and eviction become guesswork",
                        )


@policy("security")
def hardened_containers(context: Context) -> Iterator[Problem]:
    for workload in context.pod_owners():
        pod = pod_spec(workload).get("securityContext", {})
        for container in containers(workload):
            subject = f"{describe(workload)} container {container['name']}"
            own = container.get("securityContext", {})
            merged = pod | own
            if merged.get("runAsNonRoot") is not True:
                yield Problem("security", subject, "runAsNonRoot is not true")
            if not isinstance(merged.get("runAsUser"), int) or merged.get("runAsUser") == 0:
                yield Problem("security", subject, "runAsUser must be a numeric, non-zero user")
            if own.get("readOnlyRootFilesystem") is not True:
                yield Problem("security", subject, "readOnlyRootFilesystem is not true")
            if own.get("allowPrivilegeEscalation") is not False:
                yield Problem("security", subject, "allowPrivilegeEscalation is not false")
            if "ALL" not in own.get("capabilities", {}).get("drop", []):
                yield Problem("security", subject, "capabilities.drop does not include ALL")
            if merged.get("seccompProfile", {}).get("type") not in {"RuntimeDefault", "Localhost"}:
                yield Problem("security", subject, "seccompProfile is not RuntimeDefault")
        if pod_spec(workload).get("automountServiceAccountToken") is not False:
            yield Problem("security", describe(workload), "automountServiceAccountToken is not false")


@policy("images")
def pinned_images(context: Context) -> Iterator[Problem]:
    for workload in context.pod_owners():
        for container in containers(workload):
            image = str(container.get("image", ""))
            subject = f"{describe(workload)} container {container['name']}"
            name = image.split("@")[0]
            tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
            if tag == "latest":
                yield Problem("images", subject, f"{image} uses the mutable tag :latest")
            elif tag is None and "@" not in image:
                yield Problem("images", subject, f"{image} has neither a tag nor a digest")
            if context.environment in {"staging", "prod"} and not DIGEST.search(image):
                yield Problem(
                    "images",
                    subject,
                    f"{image} is not pinned by digest (@sha256:...), required in {context.environment}",
                )


# The service's drill-only settings (services/classifier/src/classifier/config.py, "DRILL ONLY"):
# injected faults, and serving an artifact built with a deliberate defect.
DRILL_ONLY_SETTINGS = re.compile(r"^CLASSIFIER_(FAULT_\w+|ALLOW_DRILL_DEFECTS)$")


@policy("drill-settings")
def no_drill_settings(context: Context) -> Iterator[Problem]:
    for workload in context.pod_owners():
        for container in containers(workload):
            for variable in container.get("env", []):
                if DRILL_ONLY_SETTINGS.match(str(variable.get("name", ""))):
                    yield Problem(
                        "drill-settings",
                        f"{describe(workload)} container {container['name']}",
                        f"sets {variable['name']}, a drill-only setting: injected faults or a model "
                        "that is wrong on purpose",
                    )


@policy("volume-access")
def secret_files_readable(context: Context) -> Iterator[Problem]:
    """A Secret or ConfigMap volume's files are owned by root, group root, unless the pod sets
    fsGroup, which becomes their group (kubernetes.io/docs/tasks/configure-pod-container/
    security-context, "Set the security context for a Pod", v1.33). A mode without read for
    others then leaves a non-root container unable to read them."""
    for workload in context.pod_owners():
        pod = pod_spec(workload)
        if pod.get("securityContext", {}).get("fsGroup") is not None:
            continue
        for volume in pod.get("volumes", []):
            source = volume.get("secret") or volume.get("configMap")
            if source is None:
                continue
            mode = int(source.get("defaultMode", 0o644))
            if not mode & 0o004:
                yield Problem(
                    "volume-access",
                    describe(workload),
                    f"volume {volume['name']} is mounted with mode {mode:04o} and the pod sets no fsGroup: "
                    "its files are root's, and a non-root container cannot read them",
                )
