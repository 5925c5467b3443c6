"""The drill's real parts: classifier service processes, a Prometheus that scrapes them (its
targets and their labels in a file it watches, so canaries come and go), and locust load.
Every process started is stopped on exit, whatever happens."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from classifier_testkit.artifacts import DEFAULT_ARTIFACT
from classifier_testkit.ports import free_port
from classifier_testkit.server import ServerProcess
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES

ARTIFACT = DEFAULT_ARTIFACT  # what `make model` builds
SERVICE_GRACE_S = 15  # SIGTERM to SIGKILL, as stop_process gives every other process
LOAD_START_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]


@dataclass(frozen=True, slots=True)
class Target:
    """A classifier process as Prometheus sees a pod: its namespace and pod-template hash."""

    name: str
    namespace: str
    hash: str
    url: str


def get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if predicate():
                return
        time.sleep(0.25)
    raise TimeoutError(f"gave up waiting for {what}")


def series(prometheus: str, promql: str, timeout: float = 5) -> list[dict[str, Any]]:
    """An instant query's series, each {"metric": labels, "value": [time, value]}; raises on any
    failure and on an answer that is not a vector."""
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    answer = get_json(url, timeout=timeout)
    if answer.get("status") != "success" or answer["data"]["resultType"] != "vector":
        raise ValueError(f"unexpected answer: {str(answer)[:200]}")
    return list(answer["data"]["result"])


def query(prometheus: str, promql: str) -> list[float]:
    """An instant query's values, as the drill's Prometheus provider measures them: any failure
    raises and counts as an error (the templates' queries are vectors)."""
    return [float(item["value"][1]) for item in series(prometheus, promql)]


# The Prometheus line kube-prometheus-stack-75.15.1 runs (values.yaml:3996, v3.5.0) and so the drills
# and promtool's tests run (.ci/system-packages.sh installs it): 3's ranges are left-open.
PROMETHEUS_VERSION = "3.5."


def prometheus_command(config: Path, tsdb: Path, address: str) -> list[str]:
    """Prometheus with this configuration and TSDB, listening on host:port."""
    binary = _binary("prometheus", "Prometheus")
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tsdb}",
        f"--web.listen-address={address}",
    ]


def alertmanager_command(config: Path, storage: Path, address: str) -> list[str]:
    """Alertmanager with this configuration, alone (no cluster), listening on host:port."""
    binary = _binary("prometheus-alertmanager", "Alertmanager")
    listen = [f"--web.listen-address={address}", "--cluster.listen-address="]
    return [binary, f"--config.file={config}", f"--storage.path={storage}", *listen]


def write_file_sd(path: Path, groups: list[dict[str, Any]]) -> None:
    """Targets for Prometheus's file_sd, replaced in one step: it never reads half a file."""
    staged = path.with_name(path.name + ".new")
    staged.write_text(json.dumps(groups))
    staged.replace(path)


def _binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install {package} (make system-packages)")
    return found


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within the grace period."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Stack:
    """Processes of one drill, stopped together."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._processes: list[subprocess.Popen[bytes]] = []
        self._main: Prometheus | None = None
        self.targets: list[Target] = []
        self.aliases: list[Target] = []  # a process scraped again under other labels
        self._server_of: dict[str, ServerProcess] = {}

    @property
    def prometheus(self) -> Prometheus:
        """The first Prometheus started: the one every case but an outage is measured with."""
        if self._main is None:
            raise RuntimeError("no Prometheus started yet")
        return self._main

    def start(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, env=os.environ | (env or {}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        stop_process(process)

    def stop_all(self) -> None:
        for server in self._server_of.values():
            server.stop(SERVICE_GRACE_S)
        for process in self._processes:
            self.stop(process)

    def service(
        self,
        name: str,
        namespace: str,
        pod_hash: str,
        faults: dict[str, str],
        artifact: Path = ARTIFACT,
        *,
        drill_defect: bool = False,
    ) -> Target:
        """A classifier process serving `artifact` (one with a drill defect only when
        `drill_defect` says so), scraped by Prometheus as a pod of `namespace` once ready."""
        env = {
            "CLASSIFIER_MODEL_DIR": str(artifact),
            "CLASSIFIER_INFERENCE_WORKERS": "1",
            "CLASSIFIER_LOG_LEVEL": "warning",
        } | faults
        if drill_defect:
            env["CLASSIFIER_ALLOW_DRILL_DEFECTS"] = "true"
        server = ServerProcess.start(env, wait=False)
        target = Target(name, namespace, pod_hash, server.base_url)
        self._server_of[target.url] = server
        self.targets.append(target)
        return target

    def wait_ready(self, targets: list[Target]) -> None:
        """Each process ready, and scraped by Prometheus."""
        for target in targets:
            self._server_of[target.url].wait_ready(90)
        self._write_targets()
        expected = {t.url.removeprefix("http://") for t in targets}
        wait_for(
            lambda: expected <= {r["metric"]["instance"] for r in self._up()}, 60, "the new targets' scrape"
        )

    def relabel(self, target: Target, namespace: str, pod_hash: str) -> Target:
        """The same process, scraped from now on as a pod of another namespace and revision."""
        moved = replace(target, namespace=namespace, hash=pod_hash)
        self.targets[self.targets.index(target)] = moved
        self._write_targets()
        return moved

    def alias(self, target: Target, namespaces: list[str]) -> None:
        """Scrape `target`'s process also as a pod of each of these namespaces, same hash: the
        stable arm beside every case's canary, as in a real namespace."""
        self.aliases = [replace(target, namespace=namespace) for namespace in namespaces]
        self._write_targets()

    def retire(self, targets: list[Target]) -> None:
        """Stop these processes (by URL, whatever they are labelled now) and stop scraping them."""
        urls = {target.url for target in targets}
        for url in urls:
            self._server_of.pop(url).stop(SERVICE_GRACE_S)
        self.targets = [t for t in self.targets if t.url not in urls]
        self._write_targets()

    def _up(self, server: Prometheus | None = None) -> list[dict[str, Any]]:
        return series((server or self.prometheus).url, "up == 1", timeout=10)

    def _write_targets(self) -> None:
        groups = [
            {
                "targets": [t.url.removeprefix("http://")],
                "labels": {"namespace": t.namespace, "rollouts_pod_template_hash": t.hash, "pod": t.name},
            }
            for t in [*self.targets, *self.aliases]
        ]
        write_file_sd(self.workdir / "targets.json", groups)

    def start_prometheus(self) -> Prometheus:
        """A Prometheus with the generated rules (evaluated every second), scraping every second
        the targets in targets.json. The first one started is the stack's `prometheus`."""
        spec = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]
        for group in spec["groups"]:
            group["interval"] = "1s"
        (self.workdir / "rules.yaml").write_text(yaml.safe_dump(spec))
        self._write_targets()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yaml"],
            "scrape_configs": [
                {
                    "job_name": "classifier",
                    "file_sd_configs": [
                        {"files": [str(self.workdir / "targets.json")], "refresh_interval": "1s"}
                    ],
                }
            ],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        tsdb = self.workdir / f"tsdb-{port}"
        process = self.start(prometheus_command(self.workdir / "prometheus.yml", tsdb, f"127.0.0.1:{port}"))
        server = Prometheus(f"http://127.0.0.1:{port}", process)
        self._main = self._main or server
        scraped = {t.url.removeprefix("http://") for t in self.targets}
        wait_for(
            lambda: scraped <= {r["metric"]["instance"] for r in self._up(server)}, 60, "Prometheus to scrape"
        )
        return server

    @contextlib.contextmanager
    def load(self, targets: list[Target], users: int = 8) -> Iterator[None]:
        """locust against `targets` (real photos) until the block ends. The block starts once every
        target has answered locust, not when locust starts: it takes seconds to import and to make
        its photos, more on a busy machine, and the drill's warm-up and first measurements count
        from the block's start (a round once measured no traffic at all at dev's first step)."""
        servers = [self._server_of[target.url] for target in targets]
        before = [server.metric("classifier_images_total") for server in servers]
        urls = ",".join(t.url for t in targets)
        locustfile = REPO_ROOT / "loadtests" / "drill_locustfile.py"
        command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
                   "--users", str(users), "--spawn-rate", str(users), "--only-summary"]  # fmt: skip
        process = subprocess.Popen(
            command,
            env=os.environ | {"DRILL_TARGETS": urls},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def flowing() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"locust exited with {process.returncode} before loading every target")
            return all(s.metric("classifier_images_total") > n for s, n in zip(servers, before, strict=True))

        try:
            wait_for(flowing, LOAD_START_TIMEOUT_S, "locust's first answer from every target")
            yield
        finally:
            stop_process(process, grace_seconds=30)
