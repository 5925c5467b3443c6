"""Git holds references to secrets, never their values: no Secret with data, no literal
credential in an environment variable or a chart's values, nothing shaped like a key or token.
The secret store serves only the namespaces and Secrets that need it, each environment has its
own credentials, and no upstream chart keeps its default admin password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gitops.delivery import Delivery
from gitops.delivery_policies.base import (
    effective_namespace,
    group_kind,
    rule,
    strings,
    synced_objects,
    value_at,
)
from gitops.policies import Problem
from gitops.policies.base import containers, namespace_of
from gitops.render import Manifest, describe

# Named like a credential; *_FILE, *_PATH, *_DIR name where one is mounted, not the value.
CREDENTIAL_NAME = re.compile(
    r"(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|CREDENTIAL|PRIVATE_?KEY)(?!S?_(FILE|PATH|DIR)$)", re.IGNORECASE
)
# Shaped like one: PEM private keys, GitHub, AWS, Slack and Stripe tokens, JWTs.
CREDENTIAL_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_\w{30,}"
    r"|\bAKIA[0-9A-Z]{16}\b|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bsk_live_[A-Za-z0-9]{20,}|\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}"
)
# Helm values that name Secrets rather than hold them (existingSecret, secretRef, secrets: [...]).
REFERENCE_KEY = re.compile(r"(refs?|names?|keys?|secrets?)$", re.IGNORECASE)


@rule("no-credentials")
def no_credentials_in_git(delivery: Delivery) -> Iterator[Problem]:
    for owner, manifest in delivery.owned_objects():
        subject = describe(manifest)
        if group_kind(manifest) == ("", "Secret") and (manifest.get("data") or manifest.get("stringData")):
            yield Problem(
                "no-credentials", subject, "a Secret with data in git: use an ExternalSecret", owner
            )
        for container in containers(manifest):
            for variable in container.get("env") or []:
                if variable.get("value") and CREDENTIAL_NAME.search(str(variable.get("name"))):
                    message = (
                        f"container {container.get('name')} sets {variable['name']} literally: use "
                        "valueFrom.secretKeyRef"
                    )
                    yield Problem("no-credentials", subject, message, owner)
        for path, _, value in strings(manifest):
            if CREDENTIAL_VALUE.search(value):
                yield Problem("no-credentials", subject, f"{path} holds what looks like a credential", owner)
    for app in delivery.applications:
        for path, key, value in strings(app.values):
            if value and CREDENTIAL_NAME.search(key) and not REFERENCE_KEY.search(key):
                message = f"helm value {path} is a literal credential: reference a Secret instead"
                yield Problem("no-credentials", f"Application/{app.name}", message, app.parent)


@rule("secret-store-scoped")
def cluster_secret_stores_serve_only_their_namespaces(delivery: Delivery) -> Iterator[Problem]:
    """A ClusterSecretStore without `conditions` serves every namespace: any ExternalSecret in the
    cluster could copy the classifier's tokens out. With conditions, External Secrets v0.18.2
    serves a namespace only when one condition names it, selects it or matches it by regex
    (pkg/controllers/secretstore/client_manager.go, shouldProcessSecret; regexp.MatchString,
    unanchored), so each ExternalSecret's namespace must be allowed by its store's conditions.
    Only `namespaces` and `namespaceRegexes` are followed here: a selector depends on live labels."""
    stores = {
        str(manifest["metadata"]["name"]): (app, manifest)
        for app, manifest in synced_objects(delivery)
        if group_kind(manifest) == ("external-secrets.io", "ClusterSecretStore")
    }
    for name, (app, store) in stores.items():
        if not store.get("spec", {}).get("conditions"):
            message = "has no spec.conditions: it serves every namespace; list the namespaces that need it"
            yield Problem("secret-store-scoped", f"ClusterSecretStore/{name}", message, app.name)
    for app, manifest in synced_objects(delivery):
        if group_kind(manifest) != ("external-secrets.io", "ExternalSecret"):
            continue
        reference = manifest.get("spec", {}).get("secretStoreRef") or {}
        if reference.get("kind") != "ClusterSecretStore" or str(reference.get("name")) not in stores:
            continue
        namespace = effective_namespace(manifest, app) or ""
        conditions = stores[str(reference["name"])][1].get("spec", {}).get("conditions") or []
        if conditions and not any(_allows(condition, namespace) for condition in conditions):
            message = (
                f"in namespace {namespace} reads ClusterSecretStore/{reference['name']}, whose conditions "
                "do not allow that namespace: External Secrets refuses it"
            )
            yield Problem("secret-store-scoped", describe(manifest), message, app.name)


def _allows(condition: dict[str, Any], namespace: str) -> bool:
    return namespace in (condition.get("namespaces") or []) or any(
        re.search(pattern, namespace) for pattern in condition.get("namespaceRegexes") or []
    )


@rule("secret-store-least-privilege")
def secret_store_reads_only_named_secrets(delivery: Delivery) -> Iterator[Problem]:
    """A kubernetes-provider store reads with a service account; External Secrets v0.18.2 needs only
    `get` by name on the Secrets its ExternalSecrets read (pkg/provider/kubernetes/client.go:46;
    `list` is for dataFrom.find alone, client.go:345, :362). So the account's Roles grant `get` on
    those names (`resourceNames`) and nothing wider (no other verb, no other resource, no other API
    group), every remote key read is among them, or the sync fails with Forbidden, and no
    ExternalSecret asks for `dataFrom.find`, which would need `list` on every Secret."""
    objects = list(delivery.owned_objects())
    for _, store in objects:
        if group_kind(store) != ("external-secrets.io", "ClusterSecretStore"):
            continue
        kubernetes = store.get("spec", {}).get("provider", {}).get("kubernetes") or {}
        account = (kubernetes.get("auth") or {}).get("serviceAccount") or {}
        if not account:
            continue
        namespace = str(kubernetes.get("remoteNamespace", "default"))
        roles = _roles_of(
            objects, str(account.get("name")), str(account.get("namespace", namespace)), namespace
        )
        granted: set[str] = set()
        for owner, role in roles:
            for grant in role.get("rules") or []:
                resources = set(grant.get("resources") or [])
                other = sorted(resources - {"secrets"}) + sorted(set(grant.get("apiGroups") or [""]) - {""})
                if other:
                    message = (
                        f"grants {', '.join(grant.get('verbs') or [])} on {', '.join(other)} to the account "
                        f"of store {store['metadata']['name']}, which reads core Secrets only"
                    )
                    yield Problem("secret-store-least-privilege", describe(role), message, owner)
                if not {"secrets", "*"} & resources:
                    continue
                names = set(grant.get("resourceNames") or [])
                wider = sorted(set(grant.get("verbs") or []) - {"get"})
                if not names or wider:
                    message = (
                        f"grants {', '.join(grant.get('verbs') or [])} on "
                        f"{'every Secret' if not names else 'Secrets'} in {namespace}: the store "
                        f"{store['metadata']['name']} needs only `get` on the Secrets it reads, by name"
                    )
                    yield Problem("secret-store-least-privilege", describe(role), message, owner)
                granted |= names
        for owner, external in objects:
            if group_kind(external) != ("external-secrets.io", "ExternalSecret"):
                continue
            if (external.get("spec", {}).get("secretStoreRef") or {}).get("name") != store["metadata"][
                "name"
            ]:
                continue
            if any("find" in source for source in external.get("spec", {}).get("dataFrom") or []):
                message = (
                    f"uses dataFrom.find, which lists every Secret in {namespace} through "
                    f"ClusterSecretStore/{store['metadata']['name']}: name each key instead"
                )
                yield Problem("secret-store-least-privilege", describe(external), message, owner)
            for key in sorted(_remote_keys(external) - granted):
                message = (
                    f"reads {key} from ClusterSecretStore/{store['metadata']['name']}, whose service "
                    f"account may not get it (no Role in {namespace} names it): the sync fails"
                )
                yield Problem("secret-store-least-privilege", describe(external), message, owner)


def _roles_of(
    objects: list[tuple[str, Manifest]], account: str, account_namespace: str, namespace: str
) -> list[tuple[str, Manifest]]:
    """The Roles and ClusterRoles bound to a service account in a namespace (with their owner)."""
    bound: set[tuple[str, str]] = set()
    for _, binding in objects:
        if group_kind(binding) not in {
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        }:
            continue
        if binding["kind"] == "RoleBinding" and namespace_of(binding) != namespace:
            continue
        if any(
            subject.get("kind") == "ServiceAccount"
            and subject.get("name") == account
            and subject.get("namespace", namespace_of(binding)) == account_namespace
            for subject in binding.get("subjects") or []
        ):
            reference = binding.get("roleRef") or {}
            bound.add((str(reference.get("kind")), str(reference.get("name"))))
    return [
        (owner, role)
        for owner, role in objects
        if group_kind(role)[0] == "rbac.authorization.k8s.io"
        and (role["kind"], role["metadata"]["name"]) in bound
        and (role["kind"] == "ClusterRole" or namespace_of(role) == namespace)
    ]


def _remote_keys(external: Manifest) -> set[str]:
    spec = external.get("spec", {})
    keys = {str((item.get("remoteRef") or {}).get("key")) for item in spec.get("data") or []}
    return keys | {
        str(source["extract"]["key"]) for source in spec.get("dataFrom") or [] if "extract" in source
    }


# Upstream charts whose admin credentials fall back to a default in the chart: the Application
# installing the chart -> (the values holding the Secret's name and keys, the keys' defaults).
ADMIN_CREDENTIALS = {
    # kube-prometheus-stack 75.15.1 values.yaml:1292-1293 (adminUser admin, adminPassword
    # prom-operator); grafana chart 9.3.0 values.yaml:495-499 and templates/_pod.tpl:394-407.
    "kube-prometheus-stack": ("grafana.admin", {"userKey": "admin-user", "passwordKey": "admin-password"}),
}


@rule("admin-credentials-from-store")
def admin_credentials_come_from_the_store(delivery: Delivery) -> Iterator[Problem]:
    """An upstream chart's admin password is its default unless a Secret is named; that Secret must
    be one an ExternalSecret fills in the chart's namespace, with the keys the chart reads."""
    for chart, (path, defaults) in ADMIN_CREDENTIALS.items():
        app = delivery.chart(chart)
        if app is None:
            continue
        settings = value_at(app, tuple(path.split(".")))
        settings = settings if isinstance(settings, dict) else {}
        name = settings.get("existingSecret")
        if not name:
            message = f"{path}.existingSecret is not set: the admin password is the chart's default"
            yield Problem("admin-credentials-from-store", f"Application/{app.name}", message, app.parent)
            continue
        keys = {str(settings.get(k) or default) for k, default in defaults.items()}
        filled = {
            str(item.get("secretKey"))
            for owner, external in synced_objects(delivery)
            if group_kind(external) == ("external-secrets.io", "ExternalSecret")
            and (external.get("spec", {}).get("target") or {}).get("name") == name
            and effective_namespace(external, owner) == app.destination_namespace
            for item in external.get("spec", {}).get("data") or []
        }
        if not keys <= filled:
            message = (
                f"{path}.existingSecret names {name}, but no ExternalSecret in {app.destination_namespace} "
                f"fills it with {', '.join(sorted(keys - filled))}"
            )
            yield Problem("admin-credentials-from-store", f"Application/{app.name}", message, app.parent)


@rule("secrets-per-environment")
def each_environment_reads_its_own_secrets(delivery: Delivery) -> Iterator[Problem]:
    """A remote key two environments read is one credential for both: a token leaked from dev opens
    prod. Each environment's ExternalSecrets read keys no other environment reads."""
    readers: dict[str, set[str]] = {}
    for app, external in synced_objects(delivery):
        if app.environment and group_kind(external) == ("external-secrets.io", "ExternalSecret"):
            for key in _remote_keys(external):
                readers.setdefault(key, set()).add(app.environment)
    for app, external in synced_objects(delivery):
        if not app.environment or group_kind(external) != ("external-secrets.io", "ExternalSecret"):
            continue
        for key in sorted(_remote_keys(external)):
            others = sorted(readers[key] - {app.environment})
            if others:
                message = f"reads {key}, which {', '.join(others)} also read: one credential for several"
                yield Problem("secrets-per-environment", describe(external), message, app.name)
