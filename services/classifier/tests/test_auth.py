"""Optional bearer tokens: inference routes need one; health stays open; rotation is picked up."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classifier.api.app import create_litestar_app
from classifier.config import Settings
from classifier.runtime import Runtime
from classifier_testkit.server import ServerProcess, StartServer


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "tokens"
    path.write_text("# api tokens, one per line\nalpha-token-1\n\nbeta-token-2\n")
    return path


@pytest.fixture(scope="module")
def guarded(start_server: StartServer, token_file: Path) -> ServerProcess:
    return start_server(auth_tokens_file=str(token_file))


def _classify(server: ServerProcess, body: bytes, token: str | None) -> int:
    headers = {"content-type": "image/jpeg"} | ({"authorization": f"Bearer {token}"} if token else {})
    return server.client.post("/v1/classify", content=body, headers=headers).status_code


def test_missing_token_is_401_with_challenge(guarded: ServerProcess, coffee_jpeg: bytes) -> None:
    response = guarded.client.post(
        "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in response.json()["error"]


def test_wrong_token_is_403(guarded: ServerProcess, coffee_jpeg: bytes) -> None:
    assert _classify(guarded, coffee_jpeg, "alpha-token-") == 403
    assert (
        guarded.client.get(
            "/v2/models/efficientnet-lite0", headers={"authorization": "Bearer nope"}
        ).status_code
        == 403
    )


def test_every_listed_token_works(guarded: ServerProcess, coffee_jpeg: bytes) -> None:
    assert _classify(guarded, coffee_jpeg, "alpha-token-1") == 200
    assert _classify(guarded, coffee_jpeg, "beta-token-2") == 200
    assert _classify(guarded, coffee_jpeg, "# api tokens, one per line") == 403


def test_health_and_metrics_stay_open(guarded: ServerProcess) -> None:
    assert guarded.client.get("/v2/health/ready").status_code == 200
    assert guarded.client.get("/v2/health/live").status_code == 200
    assert guarded.client.get("/metrics").status_code == 200


def test_rotated_token_file_is_picked_up(
    start_server: StartServer, tmp_path: Path, coffee_jpeg: bytes
) -> None:
    path = tmp_path / "tokens"
    path.write_text("old-token\n")
    server = start_server(auth_tokens_file=str(path))
    assert _classify(server, coffee_jpeg, "old-token") == 200
    path.write_text("new-token\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    deadline = time.monotonic() + 15
    while _classify(server, coffee_jpeg, "new-token") != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _classify(server, coffee_jpeg, "new-token") == 200
    assert _classify(server, coffee_jpeg, "old-token") == 403
    server.stop()


def test_empty_token_file_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# nothing here\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    result = subprocess.run(
        [sys.executable, "-m", "classifier"],
        env=env
        | {
            "CLASSIFIER_AUTH_TOKENS_FILE": str(path),
            "CLASSIFIER_MODEL_DIR": "artifacts/efficientnet-lite0/1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"classifier: CLASSIFIER_AUTH_TOKENS_FILE: {path} holds no tokens"
    ]


@pytest.mark.parametrize("with_tokens", [False, True])
def test_the_token_guard_never_costs_a_thread_hop(token_file: Path, with_tokens: bool) -> None:
    """Litestar runs a sync guard in a worker thread; that hop cost ~5% of c=32 throughput."""
    settings = Settings(model_dir=Path("unused"), auth_tokens_file=str(token_file) if with_tokens else "")
    litestar_app = create_litestar_app(Runtime(settings))
    guards = [
        guard
        for route in litestar_app.routes
        if route.path in {"/v1/classify", "/v2/models/{name:str}/infer"}
        for handler in route.route_handlers
        for guard in handler.resolve_guards()
    ]
    if with_tokens:
        assert guards
        assert all(inspect.iscoroutinefunction(guard) for guard in guards)
    else:
        assert guards == []
