"""Shared fixtures: the real model artifact, real photos, and real uvicorn server processes
(classifier_testkit's harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classifier_testkit import photos
from classifier_testkit.artifacts import default_artifact
from classifier_testkit.server import ServerProcess, StartServer


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """The lite0 artifact `make model` builds; built here if a bare `pytest` runs first."""
    return default_artifact()


@pytest.fixture(scope="session")
def coffee_jpeg() -> bytes:
    return photos.encode("coffee")


@pytest.fixture(scope="session")
def chelsea_jpeg() -> bytes:
    return photos.encode("chelsea")


@pytest.fixture(scope="session")
def start_server(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Start servers with extra CLASSIFIER_* settings (and none from the environment); every one
    is stopped at the end."""
    started: list[ServerProcess] = []

    def start(wait: bool = True, **settings: str) -> ServerProcess:
        env = {"CLASSIFIER_MODEL_DIR": str(artifact_dir)}
        env |= {f"CLASSIFIER_{key.upper()}": value for key, value in settings.items()}
        server = ServerProcess.start(
            env,
            log_path=tmp_path_factory.mktemp("server") / "stdout.log",
            wait=False,
            inherit_settings=False,
        )
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
