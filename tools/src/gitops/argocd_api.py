"""Read an environment's live Rollout and AnalysisRuns through Argo CD's REST API.

The promote workflow has no kubeconfig for the clusters, only an Argo CD API token; Argo CD
already watches every resource of an Application, the AnalysisRuns (children of the Rollout)
included. Endpoints and fields are Argo CD v3.1's, server/application/application.proto:
``ResourceTree`` (l. 446-448, ``GET /api/v1/applications/{applicationName}/resource-tree``,
an ApplicationTree whose ``nodes`` carry group, version, kind, namespace and name) and
``GetResource`` (l. 471-473, ``GET /api/v1/applications/{name}/resource`` with the query of
ApplicationResourceRequest, l. 169-178, answering ApplicationResourceResponse ``{"manifest":
"<the live object as a JSON string>"}``, l. 243-245).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gitops.paths import ROLLOUT, namespace

ROLLOUTS_GROUP = "argoproj.io"
TIMEOUT_S = 30


class ArgoCDError(RuntimeError):
    """Argo CD could not be asked, or did not answer as expected; the message says what to check."""


def application(environment: str) -> str:
    """The Argo CD ApplicationSet makes one Application per environment folder, named so."""
    return namespace(environment)


def _base(server: str) -> str:
    """Accept ARGOCD_SERVER as the argocd CLI takes it (host[:port]) or as a URL."""
    return (server if "://" in server else f"https://{server}").rstrip("/")


def _get(server: str, token: str, path: str, query: dict[str, str] | None = None) -> Any:
    url = f"{_base(server)}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        hint = (
            "check ARGOCD_AUTH_TOKEN and its `applications, get` permission"
            if error.code in {401, 403}
            else "check --argocd-server and that the Application exists"
        )
        raise ArgoCDError(f"GET {url}: HTTP {error.code} {error.reason}; {hint}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise ArgoCDError(f"GET {url}: {error}; check --argocd-server") from error
    except json.JSONDecodeError as error:
        raise ArgoCDError(
            f"GET {url}: the answer is not JSON ({error}); is this an Argo CD server?"
        ) from error


def _wanted(node: dict[str, Any]) -> bool:
    if node.get("group") != ROLLOUTS_GROUP:
        return False
    return node.get("kind") == "AnalysisRun" or (
        node.get("kind") == "Rollout" and node.get("name") == ROLLOUT
    )


def _live(server: str, token: str, app: str, node: dict[str, Any]) -> dict[str, Any]:
    answer = _get(
        server,
        token,
        f"/api/v1/applications/{urllib.parse.quote(app)}/resource",
        {
            "namespace": str(node.get("namespace", "")),
            "resourceName": str(node["name"]),
            "version": str(node.get("version", "v1alpha1")),
            "group": ROLLOUTS_GROUP,
            "kind": str(node["kind"]),
        },
    )
    try:
        return dict(json.loads(answer["manifest"]))
    except (TypeError, KeyError, json.JSONDecodeError) as error:
        raise ArgoCDError(f"{app}: {node['kind']} {node['name']}: no manifest in Argo CD's answer") from error


def rollout_and_analysis_runs(server: str, token: str, environment: str) -> list[dict[str, Any]]:
    """The live Rollout ``classifier`` and all AnalysisRuns of the environment's Application."""
    app = application(environment)
    tree = _get(server, token, f"/api/v1/applications/{urllib.parse.quote(app)}/resource-tree")
    nodes = sorted(
        (node for node in tree.get("nodes") or [] if _wanted(node)),
        key=lambda node: (node.get("kind") != "Rollout", str(node.get("name"))),
    )
    if not nodes or nodes[0].get("kind") != "Rollout":
        raise ArgoCDError(f"{app}'s resource tree has no Rollout {ROLLOUT!r}: is the Application synced?")
    return [_live(server, token, app, node) for node in nodes]
