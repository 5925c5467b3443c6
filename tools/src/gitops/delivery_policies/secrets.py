"""Git holds references to secrets, never their values: no Secret with data, no literal
credential in an environment variable or a chart's values, nothing shaped like a key or token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gitops.delivery import Delivery
from gitops.delivery_policies.base import effective_namespace, group_kind, rule, strings, synced_objects
from gitops.policies import Problem
from gitops.policies.base import containers
from gitops.render import describe

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
