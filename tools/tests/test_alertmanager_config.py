"""The kube-prometheus-stack values alerting depends on (issue #14): Alertmanager's configuration
as the chart renders it, checked by the real amtool and a real Alertmanager (production's version);
its credentials traced from the *_file paths to the ExternalSecret and the local cluster's
placeholder; and Prometheus keeping what a 30-day error budget needs."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from classifier_testkit.ports import free_port
from gitops.alertmanager_config import (
    ALERTMANAGER_VERSION,
    CHART_ALERTMANAGER_CONFIG,
    alertmanager_config,
    chart_values,
    credential_files,
    helm_merge,
    routed_receivers,
    with_webhooks,
)
from gitops.drill_stack import alertmanager_command, stop_process, wait_for
from gitops.durations import prometheus_duration_seconds
from gitops.paths import ENVIRONMENTS, REPO_ROOT
from gitops.paths import namespace as namespace_of
from gitops.promtool_tests import alert_variants, covers

EXTERNAL_SECRET = REPO_ROOT / "platform/credentials/alertmanager-receivers.yaml"
# Keys prometheus-operator v0.83.0 unmarshals strictly (pkg/alertmanager/types.go pagerdutyConfig,
# slackConfig): the operator refuses a configuration with any other (amcfg.go alertmanagerConfigFromBytes).
OPERATOR_KEYS = {
    "pagerduty_configs": {
        "send_resolved", "http_config", "service_key", "service_key_file", "routing_key", "routing_key_file",
        "url", "client", "client_url", "description", "details", "images", "links", "severity", "class",
        "component", "group", "source",
    },
    "slack_configs": {
        "send_resolved", "http_config", "api_url", "api_url_file", "channel", "username", "color", "title",
        "title_link", "pretext", "text", "fields", "short_fields", "footer", "fallback", "callback_id",
        "icon_emoji", "icon_url", "image_url", "thumb_url", "link_names", "mrkdwn_in", "actions",
    },
    "webhook_configs": {"send_resolved", "url", "url_file", "http_config", "max_alerts", "timeout"},
}  # fmt: skip
# Credentials written into the configuration itself rather than read from a mounted file.
INLINE_CREDENTIALS = {
    "routing_key",
    "service_key",
    "api_url",
    "auth_password",
    "api_key",
    "bearer_token",
    "webhook_url",
}
# A webhook's URL is its credential (a dead man's switch's URL is the key to its check).
INLINE_CREDENTIALS_OF = {"webhook_configs": INLINE_CREDENTIALS | {"url"}}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return alertmanager_config()


def amtool() -> str:
    binary = shutil.which("amtool")
    assert binary, "amtool is missing: make system-packages installs it"
    return binary


def with_dummy_credentials(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The configuration with each *_file path moved into `folder`, holding a dummy secret."""
    text = yaml.safe_dump(config)
    for path in credential_files(config):
        dummy = folder / Path(path).name
        dummy.write_text("https://chat.invalid/dummy" if "url" in dummy.name else "0" * 32)
        text = text.replace(path, str(dummy))
    return dict(yaml.safe_load(text))


@pytest.fixture(scope="module")
def config_file(config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("alertmanager")
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(with_dummy_credentials(config, folder)))
    return path


def test_amtool_accepts_the_configuration_the_chart_renders(config_file: Path) -> None:
    result = subprocess.run([amtool(), "check-config", str(config_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    for path in credential_files(yaml.safe_load(config_file.read_text())):
        assert Path(path).is_file(), path


def test_helm_merge_is_helms_coalesce() -> None:
    """Maps merge key by key, lists and scalars replace, a null deletes (helm pkg/chart/util/coalesce.go)."""
    defaults = {"route": {"receiver": "null", "group_wait": "30s", "routes": [1, 2]}, "templates": ["a"]}
    values = {"route": {"receiver": "chat", "routes": [3]}, "templates": None}
    assert helm_merge(defaults, values) == {"route": {"receiver": "chat", "group_wait": "30s", "routes": [3]}}


def test_the_project_sets_every_key_of_the_charts_configuration(config: dict[str, Any]) -> None:
    """What platform/kube-prometheus-stack.yaml says is all Alertmanager loads: Helm adds nothing."""
    written = chart_values()["alertmanager"]["config"]
    assert config == written
    assert set(CHART_ALERTMANAGER_CONFIG) <= set(written)
    assert set(CHART_ALERTMANAGER_CONFIG["route"]) <= set(written["route"])


def generated_alerts() -> Iterator[tuple[str, dict[str, str]]]:
    """Each generated alert rule as it fires in each namespace its expression covers."""
    for name, variants in alert_variants(REPO_ROOT).items():
        for rule in variants:
            for namespace in (namespace_of(environment) for environment in ENVIRONMENTS):
                if covers(rule, namespace):
                    yield name, {"alertname": name, "namespace": namespace, **rule["labels"]}


def test_pages_go_to_the_pager_and_tickets_to_chat(config: dict[str, Any], config_file: Path) -> None:
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    [pager] = routed_receivers(config_file, {"severity": "page"})
    [chat] = routed_receivers(config_file, {"severity": "ticket"})
    assert "pagerduty_configs" in receivers[pager]
    assert "slack_configs" in receivers[chat]
    checked = 0
    for name, labels in generated_alerts():
        expected = {"page": pager, "ticket": chat}[labels["severity"]]
        assert routed_receivers(config_file, labels) == [expected], (name, labels)
        checked += 1
    assert checked > 20


def test_nothing_is_swallowed_but_the_charts_inhibitor(config: dict[str, Any], config_file: Path) -> None:
    [chat] = routed_receivers(config_file, {"severity": "ticket"})
    for severity in ("critical", "warning", "info", "none", ""):
        assert routed_receivers(config_file, {"alertname": "KubePodCrashLooping", "severity": severity}) == [
            chat
        ]
    assert routed_receivers(config_file, {"alertname": "InfoInhibitor", "severity": "none"}) == ["null"]
    nobody = {receiver["name"] for receiver in config["receivers"] if len(receiver) == 1}
    assert nobody == {"null"}


def test_the_pipelines_heartbeat_beats_every_minute_at_a_switch(
    config: dict[str, Any], config_file: Path
) -> None:
    """The chart's Watchdog (severity none, always firing) goes to a webhook, not to nobody, and
    is sent again every minute: a dead man's switch pages when the beats stop."""
    [heartbeat] = routed_receivers(config_file, {"alertname": "Watchdog", "severity": "none"})
    receiver = next(r for r in config["receivers"] if r["name"] == heartbeat)
    [webhook] = receiver["webhook_configs"]
    assert webhook["send_resolved"] is False  # a resolved Watchdog is the pipeline going quiet
    [route] = [r for r in config["route"]["routes"] if r["receiver"] == heartbeat]
    assert prometheus_duration_seconds(route["repeat_interval"]) <= 60
    assert prometheus_duration_seconds(route["group_interval"]) <= 60


def _integrations(receiver: dict[str, Any]) -> set[str]:
    """The integrations a receiver notifies through, named as Alertmanager's metrics name them
    (`slack_configs` -> slack; v0.28.1 config/receiver/receiver.go)."""
    return {key.removesuffix("_configs") for key in receiver if key.endswith("_configs")}


def test_a_failing_notifier_is_reported_through_another(config: dict[str, Any], tmp_path: Path) -> None:
    """With the real Alertmanager (production's version) and every receiver's endpoint refusing:
    each integration that fails is counted under the `integration` label the chart's two
    failed-to-send alerts carry, and those alerts are routed to a receiver that does not use it."""
    refused = f"http://127.0.0.1:{free_port()}/refused"
    local = copy.deepcopy(config)
    for route in [local["route"], *local["route"]["routes"]]:
        route.update(group_wait="0s", group_interval="10s")  # the shortest retry timeout (notify.MinTimeout)
    for receiver in local["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            pagerduty["url"] = refused
    text = yaml.safe_dump(local)
    for path in credential_files(local):
        dummy = tmp_path / Path(path).name
        dummy.write_text(refused if "url" in dummy.name else "0" * 32)
        text = text.replace(path, str(dummy))
    (tmp_path / "alertmanager.yml").write_text(text)
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    used = set().union(*(_integrations(receiver) for receiver in receivers.values()))
    with serving_alertmanager(tmp_path) as url:
        post_alerts(
            url,
            [
                {"alertname": "Watchdog", "severity": "none"},
                {"alertname": "ClassifierProbePage", "namespace": "classifier-prod", "severity": "page"},
                {"alertname": "ClassifierProbeTicket", "namespace": "classifier-prod", "severity": "ticket"},
            ],
        )
        wait_for(lambda: failed_integrations(url) >= used, 60, f"failed notifications of {sorted(used)}")
    config_file = tmp_path / "routes.yml"
    config_file.write_text(yaml.safe_dump(with_dummy_credentials(config, tmp_path)))
    for integration in sorted(used):
        for alertname, severity in (
            ("AlertmanagerFailedToSendAlerts", "warning"),
            ("AlertmanagerClusterFailedToSendAlerts", "critical"),
        ):
            labels = {"alertname": alertname, "severity": severity, "integration": integration}
            [receiver] = routed_receivers(config_file, {**labels, "namespace": "monitoring"})
            assert integration not in _integrations(receivers[receiver]), (labels, receiver)
            assert _integrations(receivers[receiver]) - {"webhook"}, (labels, receiver)  # a person reads it


def failed_integrations(url: str) -> set[str]:
    """The integrations Alertmanager counts failed notifications of
    (alertmanager_notifications_failed_total)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    failed = r'^alertmanager_notifications_failed_total\{integration="(\w+)",reason="\w+"\} ([0-9.e+]+)$'
    found = re.findall(failed, text, re.MULTILINE)
    return {integration for integration, value in found if float(value) > 0}


def test_the_tests_run_the_alertmanager_production_runs() -> None:
    for tool in (amtool(), alertmanager_command(Path("x"), Path("y"), "z")[0]):
        result = subprocess.run([tool, "--version"], capture_output=True, text=True)
        assert f"version {ALERTMANAGER_VERSION}+ds " in result.stdout + result.stderr, tool


def test_pagerduty_gets_a_severity_it_accepts(config: dict[str, Any]) -> None:
    """Events v2 takes critical, error, warning or info; Alertmanager would send "error" unset
    (v0.28.1 notify/pagerduty/pagerduty.go), never the alert's own "page"."""
    for receiver in config["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            assert pagerduty.get("severity") in {"critical", "error", "warning", "info"}


def test_receivers_use_only_keys_prometheus_operator_accepts(config: dict[str, Any]) -> None:
    for receiver in config["receivers"]:
        for kind, notifiers in receiver.items():
            if kind == "name":
                continue
            assert kind in OPERATOR_KEYS, kind
            for notifier in notifiers:
                assert set(notifier) <= OPERATOR_KEYS[kind], (
                    receiver["name"],
                    set(notifier) - OPERATOR_KEYS[kind],
                )


def test_credentials_are_files_of_the_mounted_external_secret(config: dict[str, Any]) -> None:
    """Every *_file path lies where the operator mounts the Secret the ExternalSecret materialises
    (/etc/alertmanager/secrets/<name>, Alertmanager CRD spec.secrets in prometheus-operator v0.83.0
    Documentation/api.md), under one of its keys; no credential is written into the configuration."""
    for receiver in config["receivers"]:
        for kind, notifiers in receiver.items():
            for notifier in notifiers if kind != "name" else []:
                inline = INLINE_CREDENTIALS_OF.get(kind, INLINE_CREDENTIALS)
                assert not set(notifier) & inline, (receiver["name"], notifier)
    spec = chart_values()["alertmanager"]["alertmanagerSpec"]
    mounts = {f"/etc/alertmanager/secrets/{name}": name for name in spec["secrets"]}
    external = yaml.safe_load(EXTERNAL_SECRET.read_text())
    keys = {item["secretKey"] for item in external["spec"]["data"]}
    paths = credential_files(config)
    assert len(paths) >= 3
    for path in paths:
        folder, key = str(Path(path).parent), Path(path).name
        assert mounts.get(folder) == external["spec"]["target"]["name"], path
        assert key in keys, path
    kustomization = yaml.safe_load((EXTERNAL_SECRET.parent / "kustomization.yaml").read_text())
    assert EXTERNAL_SECRET.name in kustomization["resources"]


def test_the_local_cluster_fills_the_store_with_placeholders(config: dict[str, Any]) -> None:
    """cluster-up.sh creates the Secret the ExternalSecret reads, with every property it reads,
    and values that page no one."""
    external = yaml.safe_load(EXTERNAL_SECRET.read_text())
    script = (REPO_ROOT / "cluster/cluster-up.sh").read_text().replace("\\\n", " ")
    [command] = [
        line for line in script.splitlines() if "create secret generic alertmanager-receivers" in line
    ]
    literals = dict(re.findall(r"--from-literal=([\w-]+)=(\S+)", command))
    assert "-n platform-secrets" in command
    for item in external["spec"]["data"]:
        assert item["remoteRef"]["key"] == "alertmanager-receivers"
        assert item["remoteRef"]["property"] in literals
    urls = [value for value in literals.values() if "://" in value]
    assert urls
    assert all(".invalid/" in url for url in urls)


@contextlib.contextmanager
def running_alertmanager(config: dict[str, Any], workdir: Path) -> Iterator[str]:
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(with_webhooks(config, "http://127.0.0.1:9")))
    with serving_alertmanager(workdir) as url:
        yield url


@contextlib.contextmanager
def serving_alertmanager(workdir: Path) -> Iterator[str]:
    """A real Alertmanager serving workdir/alertmanager.yml, alone, until the block ends."""
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}"
    command = alertmanager_command(workdir / "alertmanager.yml", workdir / "data", address)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200, 30, "Alertmanager"
        )
        yield url
    finally:
        stop_process(process)


def post_alerts(url: str, alerts: list[dict[str, str]]) -> None:
    """Alerts as Prometheus sends them: firing for the next hour."""
    now = datetime.datetime.now(datetime.UTC)
    body = [
        {
            "labels": labels,
            "startsAt": now.isoformat(),
            "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
        }
        for labels in alerts
    ]
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def inhibited(url: str) -> dict[tuple[str, str], bool]:
    """(alertname, namespace) -> whether an inhibit rule mutes it now."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.loads(response.read())
    return {
        (alert["labels"]["alertname"], alert["labels"]["namespace"]): bool(alert["status"]["inhibitedBy"])
        for alert in alerts
    }


def test_a_fast_burn_page_holds_back_its_own_slow_burn_ticket_only(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """With the real Alertmanager: each generated page <Name> inhibits its ticket <Name>Slow in
    its own namespace, not in another, and not another SLI's ticket."""
    variants = alert_variants(REPO_ROOT)
    pairs = [(name, f"{name}Slow") for name in variants if f"{name}Slow" in variants]
    assert len(pairs) >= 2

    def fired(name: str, namespace: str) -> dict[str, str]:
        rule = next(r for r in variants[name] if 'namespace!~"classifier-dev"' in r["expr"])
        return {"alertname": name, "namespace": namespace, **rule["labels"]}

    for page, ticket in pairs:
        others = [slow for _, slow in pairs if slow != ticket]
        (tmp_path / page).mkdir()
        with running_alertmanager(config, tmp_path / page) as url:
            post_alerts(
                url,
                [fired(page, "classifier-prod"), fired(ticket, "classifier-prod"),
                 fired(ticket, "classifier-staging"), *(fired(other, "classifier-prod") for other in others)],
            )  # fmt: skip
            # The inhibitor takes source alerts in on its own goroutine (v0.28.1 inhibit/inhibit.go
            # run): the API answers by that cache, so wait until the page has entered it.
            with contextlib.suppress(TimeoutError):
                muted = (ticket, "classifier-prod")
                wait_for(lambda muted=muted: inhibited(url)[muted], 10, "the inhibition")
            state = inhibited(url)
        assert state[(ticket, "classifier-prod")], (page, ticket)
        assert not state[(ticket, "classifier-staging")], (page, ticket)
        assert not state[(page, "classifier-prod")], page
        for other in others:
            assert not state[(other, "classifier-prod")], (page, other)


def test_prometheus_keeps_the_slo_window_on_a_volume() -> None:
    """A 30-day budget is a query over 30 days of samples (raw or recorded alike): retention must
    cover the SLO window, the size guard stay under the volume (Prometheus docs/storage.md: at
    most 80-85% of it), and the TSDB live on a volume rather than the chart's emptyDir."""
    slos = yaml.safe_load((REPO_ROOT / "platform/slo/slos.yaml").read_text())
    spec = chart_values()["prometheus"]["prometheusSpec"]
    window = prometheus_duration_seconds(slos["window"])
    assert prometheus_duration_seconds(spec["retention"]) >= window
    size_gb = float(spec["retentionSize"].removesuffix("GB"))
    volume = spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    volume_gb = float(volume.removesuffix("Gi")) * 1.073741824
    assert size_gb <= 0.85 * volume_gb
