"""Run a server as a child process on a free loopback port, for tools and tests.

The benchmark, the load tests and their tests start the service (or the naive baseline) this
way; it waits for the ready endpoint and always stops the process on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def local_server(
    env: Mapping[str, str] | None = None,
    *,
    command: list[str] | None = None,
    ready_path: str = "/v2/health/ready",
    timeout: float = 180.0,
) -> Iterator[tuple[str, int]]:
    """Start ``command`` (default: the classifier) and yield (base URL, pid) once it is ready.

    The port is passed as both CLASSIFIER_PORT and PORT.
    """
    command = command or [sys.executable, "-m", "classifier"]
    port = free_port()
    full_env = os.environ | dict(env or {}) | {"CLASSIFIER_PORT": str(port), "PORT": str(port)}
    process = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(base + ready_path, timeout=2) as response,
            ):
                if response.status == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command} not ready after {timeout:.0f} s")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
