"""A server as a child process on a free loopback port: started, awaited, stopped, its output kept.

The one way the tests, the benchmarks, the load tests and the drills run the service (or the
naive baseline) locally. The port is passed as both CLASSIFIER_PORT and PORT.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import httpx

from classifier_testkit.ports import free_port

CLASSIFIER = (sys.executable, "-m", "classifier")
READY_PATH = "/v2/health/ready"
READY_TIMEOUT_S = 180.0  # loading and warming the model on a busy two-core machine


def wait_ready(url: str, timeout: float, gone: Callable[[], str | None] = lambda: None) -> None:
    """Poll `url` until it answers 200; `gone` says why the server will never answer (else None)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while True:
            reason = gone()
            if reason is not None:
                raise RuntimeError(reason)
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout:.0f} s")
            time.sleep(0.05)


@dataclass
class ServerProcess:
    """A server process on a loopback port, its stdout and stderr in `log_path` (if given)."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path | None = None
    ready_path: str = READY_PATH

    @classmethod
    def start(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        command: Sequence[str] = CLASSIFIER,
        log_path: Path | None = None,
        ready_path: str = READY_PATH,
        wait: bool = True,
        timeout: float = READY_TIMEOUT_S,
        inherit_settings: bool = True,
    ) -> ServerProcess:
        """Start `command` (default: the classifier) with `env` on top of this process's
        environment, without its CLASSIFIER_* variables unless `inherit_settings`; wait until
        ready unless told not to."""
        port = free_port()
        inherited = {
            key: value
            for key, value in os.environ.items()
            if inherit_settings or not key.startswith("CLASSIFIER_")
        }
        full_env = (
            inherited
            | {"PYTHONUNBUFFERED": "1"}
            | dict(env or {})
            | {"CLASSIFIER_PORT": str(port), "PORT": str(port)}
        )
        with contextlib.ExitStack() as files:
            output = files.enter_context(log_path.open("wb")) if log_path else subprocess.DEVNULL
            process = subprocess.Popen(
                list(command),
                env=full_env,
                stdout=output,
                stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
            )
        server = cls(process, f"http://127.0.0.1:{port}", log_path, ready_path)
        if wait:
            try:
                server.wait_ready(timeout)
            except BaseException:
                server.stop()
                raise
        return server

    @property
    def pid(self) -> int:
        return self.process.pid

    @cached_property
    def client(self) -> httpx.Client:
        """A client on `base_url`, closed by `stop`."""
        return httpx.Client(base_url=self.base_url, timeout=30)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        try:
            wait_ready(self.base_url + self.ready_path, timeout, self._gone)
        except TimeoutError as error:
            raise TimeoutError(f"{error}{self._log_text()}") from None

    def _gone(self) -> str | None:
        if self.process.poll() is None:
            return None
        code = self.process.returncode
        return f"{self.process.args!r} exited with {code} before it was ready{self._log_text()}"

    def _log_text(self) -> str:
        return f":\n{self.log()}" if self.log_path else ""

    def log(self) -> str:
        """Everything the process wrote so far ("" when its output is discarded)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

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
        """SIGTERM (the server drains), SIGKILL after `timeout` seconds; the exit code."""
        if "client" in self.__dict__:
            self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode


# The service tests' `start_server` fixture: start(wait=True, **CLASSIFIER_settings_in_lower_case).
StartServer = Callable[..., ServerProcess]


@contextlib.contextmanager
def local_server(
    env: Mapping[str, str] | None = None,
    *,
    command: Sequence[str] = CLASSIFIER,
    log_path: Path | None = None,
    ready_path: str = READY_PATH,
    timeout: float = READY_TIMEOUT_S,
    inherit_settings: bool = True,
) -> Iterator[ServerProcess]:
    """A ready server for the block; stopped on exit, whatever happens."""
    server = ServerProcess.start(
        env,
        command=command,
        log_path=log_path,
        ready_path=ready_path,
        timeout=timeout,
        inherit_settings=inherit_settings,
    )
    try:
        yield server
    finally:
        server.stop()
