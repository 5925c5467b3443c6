"""Smoke test of the built image in a real container (podman): `make image-test`.

The container runs exactly as a hardened pod would: read-only root filesystem with a tmpfs
/tmp, the image's numeric user, loopback-only port. Needs the image `make image` built.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from classifier_testkit import photos
from classifier_testkit.ports import free_port
from classifier_testkit.server import READY_PATH, wait_ready

IMAGE = os.environ.get("CLASSIFIER_IMAGE", "localhost/classifier:dev")
INT8_IMAGE = os.environ.get("CLASSIFIER_INT8_IMAGE", "localhost/classifier:dev-int8")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def container() -> Iterator[tuple[str, str]]:
    port = free_port()
    started = podman(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp:rw,size=64m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--publish", f"127.0.0.1:{port}:8000", IMAGE,
    )  # fmt: skip
    container_id = started.stdout.strip()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + READY_PATH, 90)
        yield container_id, base
    finally:
        podman("rm", "--force", container_id, check=False)


def test_ready_and_classifies_coffee_as_espresso(container: tuple[str, str]) -> None:
    _, base = container
    assert httpx.get(f"{base}/v2/health/ready", timeout=5).status_code == 200
    response = httpx.post(
        f"{base}/v1/classify",
        content=photos.encode("coffee"),
        headers={"content-type": "image/jpeg"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "espresso"


def test_the_paired_quality_check_runs_from_the_image_on_its_golden_set(container: tuple[str, str]) -> None:
    """What the model-quality job runs: the image's golden set, through the service, twice."""
    container_id, _ = container
    url = "http://127.0.0.1:8000"
    floors = [
        "--same-model-min-agreement=1",
        "--same-model-min-top5-overlap=1",
        "--same-network-min-agreement=1",
        "--same-network-min-top5-overlap=1",
        "--new-model-min-agreement=1",
        "--new-model-min-top5-overlap=1",
        "--min-accuracy=0.8",
    ]
    check = ["classifier-quality-check", "--golden", "/opt/golden", "--canary", url, "--stable", url]
    result = podman("exec", container_id, *check, *floors, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["verdict"], report["images"], report["agreement"]) == ("pass", 240, 1.0)


def test_runs_as_the_numeric_user(container: tuple[str, str]) -> None:
    container_id, _ = container
    assert podman("exec", container_id, "id", "-u").stdout.strip() == "10001"
    config = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"


def test_root_filesystem_is_read_only_and_tmp_is_writable(container: tuple[str, str]) -> None:
    container_id, _ = container
    assert podman("exec", container_id, "touch", "/opt/venv/x", check=False).returncode != 0
    assert podman("exec", container_id, "touch", "/tmp/x", check=False).returncode == 0


def test_healthcheck_passes(container: tuple[str, str]) -> None:
    container_id, _ = container
    assert podman("healthcheck", "run", container_id, check=False).returncode == 0


def test_image_holds_no_torch_and_carries_oci_labels() -> None:
    config = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]
    labels = config["Labels"]
    for key in ("source", "revision", "version"):
        assert labels[f"org.opencontainers.image.{key}"]
    assert labels["io.modelserving.model.version"] == "1"
    assert config["Entrypoint"] == ["/opt/venv/bin/classifier-serve"]
    listing = podman(
        "run",
        "--rm",
        "--entrypoint",
        "/opt/venv/bin/python",
        IMAGE,
        "-c",
        "import importlib.util as u; print([m for m in ('torch', 'timm', 'pip') if u.find_spec(m)])",
    ).stdout
    assert listing.strip() == "[]"


def test_the_cpu_image_ships_only_the_files_its_backend_reads() -> None:
    """ONNX Runtime reads model.onnx: the TorchScript file (for runtime-gpu's torch backend) stays out."""
    found = podman("run", "--rm", "--entrypoint", "find", IMAGE, "/opt/model", "-type", "f").stdout.split()
    assert sorted(Path(f).name for f in found) == ["metadata.json", "model.onnx"]


def test_image_holds_no_build_or_test_code() -> None:
    """The model build and the test harness are their own distributions, never installed here."""
    modules = (
        "classifier_modelbuild",
        "classifier_testkit",
        "classifier.modelbuild",
        "classifier.local_server",
    )
    check = (
        "import importlib.util as u, os, sys; print([m for m in sys.argv[1:] if u.find_spec(m)], "
        "os.path.exists('/opt/venv/bin/classifier-build-model'))"
    )
    found = podman("run", "--rm", "--entrypoint", "/opt/venv/bin/python", IMAGE, "-c", check, *modules).stdout
    assert found.strip() == "[] False"


def test_the_int8_image_serves_its_own_version_with_openvino_and_nothing_else() -> None:
    """The image `make image-int8` builds: version 1+int8, read-only, only the int8 model inside."""
    port = free_port()
    container_id = podman(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp:rw,size=64m", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--publish", f"127.0.0.1:{port}:8000", INT8_IMAGE,
    ).stdout.strip()  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}{READY_PATH}", 90)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/classify",
            content=photos.encode("coffee"),
            headers={"content-type": "image/jpeg"},
            timeout=30,
        )
        model = response.json()["model"]
        assert (model["version"], model["backend"]) == ("1+int8", "openvino")
        assert response.json()["predictions"][0]["label"] == "espresso"
        models = podman("exec", container_id, "find", "/opt/model", "-type", "f").stdout.split()
        files = sorted(Path(m).name for m in models)
        assert files == ["metadata.json", "model.bin", "model.xml", "parity.json"]
    finally:
        podman("rm", "--force", container_id, check=False)
    labels = json.loads(podman("image", "inspect", INT8_IMAGE).stdout)[0]["Config"]["Labels"]
    assert labels["io.modelserving.model.version"] == "1+int8"


def test_sigterm_stops_it_cleanly_within_the_grace_period(container: tuple[str, str]) -> None:
    container_id, _ = container
    started = time.monotonic()
    podman("stop", "--time", "15", container_id)
    assert time.monotonic() - started < 15
    state = json.loads(podman("inspect", container_id).stdout)[0]["State"]
    assert state["ExitCode"] == 0
