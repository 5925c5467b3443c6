"""Shared fixtures: the real model artifact, real photos, and real uvicorn server processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from classifier.modelbuild import photos

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_ARTIFACT = REPO_ROOT / "artifacts" / "efficientnet-lite0" / "1"


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """The lite0 artifact `make model` builds; built here if a bare `pytest` runs first."""
    if not (DEFAULT_ARTIFACT / "metadata.json").is_file():
        from classifier.modelbuild.cli import build
        from classifier.modelbuild.variants import VARIANTS

        build(VARIANTS["lite0"], "1", REPO_ROOT / "artifacts")
    return DEFAULT_ARTIFACT


@pytest.fixture(scope="session")
def coffee_jpeg() -> bytes:
    return photos.encode("coffee")


@pytest.fixture(scope="session")
def chelsea_jpeg() -> bytes:
    return photos.encode("chelsea")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A `python -m classifier` process on a free loopback port, its stdout in a file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.client.get("/v2/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def metric(self, metric_name: str, /, **labels: str) -> float:
        """The value of one sample in /metrics (0 when absent)."""
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith("#"):
                continue
            sample, _, value = line.rpartition(" ")
            sample_name, _, label_text = sample.partition("{")
            present = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
            if sample_name == metric_name and present == wanted:
                return float(value)
        return 0.0

    def stop(self, timeout: float = 30) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


StartServer = Callable[..., ServerProcess]


@pytest.fixture(scope="session")
def start_server(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Start servers with extra CLASSIFIER_* settings; every one is stopped at the end."""
    started: list[ServerProcess] = []

    def start(wait: bool = True, **settings: str) -> ServerProcess:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
        env |= {
            "CLASSIFIER_MODEL_DIR": str(artifact_dir),
            "CLASSIFIER_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        env |= {f"CLASSIFIER_{key.upper()}": value for key, value in settings.items()}
        log_path = tmp_path_factory.mktemp("server") / "stdout.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "classifier"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(start_server: StartServer) -> ServerProcess:
    """One default server shared by the API tests (they only add requests, never reconfigure)."""
    return start_server()
