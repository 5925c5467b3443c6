"""The alertmanager.yaml kube-prometheus-stack renders from the project's values
(platform/kube-prometheus-stack.yaml merged over the chart's defaults as Helm merges them), and
what Alertmanager's own tools say about it."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gitops.argocd_sources import helm_values
from gitops.paths import REPO_ROOT

CHART_VALUES = Path("platform/kube-prometheus-stack.yaml")
# The Alertmanager kube-prometheus-stack-75.15.1 runs (values.yaml:916, image tag v0.28.1); the
# tests run the same (.ci/system-packages.sh installs it).
ALERTMANAGER_VERSION = "0.28.1"
# kube-prometheus-stack-75.15.1 values.yaml L508-547: what Helm merges the project's
# alertmanager.config over (maps key by key, lists replaced: helm pkg/chart/util/coalesce.go).
CHART_ALERTMANAGER_CONFIG: dict[str, Any] = {
    "global": {"resolve_timeout": "5m"},
    "inhibit_rules": [
        {
            "source_matchers": ["severity = critical"],
            "target_matchers": ["severity =~ warning|info"],
            "equal": ["namespace", "alertname"],
        },
        {
            "source_matchers": ["severity = warning"],
            "target_matchers": ["severity = info"],
            "equal": ["namespace", "alertname"],
        },
        {
            "source_matchers": ["alertname = InfoInhibitor"],
            "target_matchers": ["severity = info"],
            "equal": ["namespace"],
        },
        {"target_matchers": ["alertname = InfoInhibitor"]},
    ],
    "route": {
        "group_by": ["namespace"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "12h",
        "receiver": "null",
        "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
    },
    "receivers": [{"name": "null"}],
    "templates": ["/etc/alertmanager/config/*.tmpl"],
}
_NOTIFIERS = re.compile(r".+_configs")
# send_resolved where a notifier leaves it out (Alertmanager v0.28.1 config/notifiers.go,
# Default<Kind>Config.VSendResolved); another kind must set it.
_SEND_RESOLVED = {
    "pagerduty_configs": True,
    "slack_configs": False,
    "email_configs": False,
    "webhook_configs": True,
}


def helm_merge(defaults: Any, values: Any) -> Any:
    """Values over a chart's defaults as Helm coalesces them: maps merged key by key, anything else
    (lists included) replaced, a null deleting the default's key."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(merged.get(key), value)
    return merged


def chart_values(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The Helm values Argo CD gives kube-prometheus-stack."""
    return helm_values(yaml.safe_load((root / CHART_VALUES).read_text()))


def alertmanager_config(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The alertmanager.yaml the chart renders from the project's values (templates/alertmanager/
    secret.yaml: toYaml of the merged alertmanager.config, tplConfig being false)."""
    values = chart_values(root)["alertmanager"]["config"]
    merged: dict[str, Any] = helm_merge(CHART_ALERTMANAGER_CONFIG, values)
    return merged


def credential_files(node: Any) -> list[str]:
    """Every *_file path the configuration reads a credential from."""
    if isinstance(node, dict):
        return [
            found
            for key, value in node.items()
            for found in (
                [value] if key.endswith("_file") and isinstance(value, str) else credential_files(value)
            )
        ]
    if isinstance(node, list):
        return [found for item in node for found in credential_files(item)]
    return []


def with_webhooks(config: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The same configuration with every receiver that notifies anyone (PagerDuty, Slack, ...)
    posting to base_url/<receiver> instead; routes, inhibit rules and timings untouched."""
    local = copy.deepcopy(config)
    for receiver in local["receivers"]:
        notifiers = [key for key in receiver if _NOTIFIERS.fullmatch(key)]
        if notifiers:
            kind = notifiers[0]
            resolved = receiver[kind][0].get("send_resolved", _SEND_RESOLVED.get(kind))
            if resolved is None:
                raise ValueError(f"receiver {receiver['name']}: set send_resolved on its {kind}")
            for key in notifiers:
                del receiver[key]
            receiver["webhook_configs"] = [
                {"url": f"{base_url}/{receiver['name']}", "send_resolved": resolved}
            ]
    return local


def routed_receivers(config_file: Path, labels: dict[str, str]) -> list[str]:
    """The receivers Alertmanager's routing tree sends an alert with these labels to (amtool)."""
    amtool = shutil.which("amtool")
    if amtool is None:
        raise RuntimeError("amtool not found: make system-packages installs it")
    command = [amtool, "config", "routes", "test", f"--config.file={config_file}"]
    # Quoted as the matchers parser wants them (Alertmanager v0.28.1 matcher/parse): an unquoted
    # empty value would fall back to the classic parser with a warning on stdout.
    command += [f"{key}={json.dumps(value)}" for key, value in sorted(labels.items())]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return [name.strip() for name in result.stdout.strip().split(",")]
