"""Process entry point: validate settings, then serve with uvicorn and drain on SIGTERM.

SIGTERM (what Kubernetes sends) first turns readiness to 503 and keeps serving for
``CLASSIFIER_DRAIN_DELAY_S`` so endpoints can stop routing here; then uvicorn stops
accepting, waits up to ``CLASSIFIER_SHUTDOWN_TIMEOUT_S`` for in-flight requests, and the
process exits 0. A second SIGTERM or SIGINT skips the delay.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from types import FrameType

import uvicorn

from classifier.api import create_app
from classifier.artifact import ArtifactError
from classifier.backends import check_artifact
from classifier.config import Settings, SettingsError
from classifier.logs import configure_logging
from classifier.runtime import Runtime

logger = logging.getLogger("classifier")


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a readiness drain before shutdown and a clean exit code."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self._runtime = runtime
        self._drain_timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it after shutdown and the
        # process would die of SIGTERM (exit 143) instead of exiting 0 after a clean drain.
        if self._runtime.draining or self._runtime.settings.drain_delay_s == 0:
            self._runtime.start_draining()
            self.should_exit = True
            return
        self._runtime.start_draining()
        self._drain_timer = threading.Timer(self._runtime.settings.drain_delay_s, self._stop_accepting)
        self._drain_timer.daemon = True
        self._drain_timer.start()

    def _stop_accepting(self) -> None:
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._runtime.load_error is not None:
            return True
        return await super().on_tick(counter)


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"classifier: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    try:
        check_artifact(settings)
    except ArtifactError as error:
        print(f"classifier: model artifact error: {error}", file=sys.stderr)
        sys.exit(2)
    try:
        runtime = Runtime(settings)
    except ValueError as error:  # an unreadable or empty token file
        print(f"classifier: CLASSIFIER_AUTH_TOKENS_FILE: {error}", file=sys.stderr)
        sys.exit(2)
    if settings.faults_enabled:
        logger.warning(
            "FAULT INJECTION IS ON (drill setting): this process adds latency and/or errors",
            extra={
                "event": "fault_injection_enabled",
                "latency_ms": settings.fault_latency_ms,
                "error_rate": settings.fault_error_rate,
            },
        )
    config = uvicorn.Config(
        create_app(runtime),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # Behind Kubernetes Services and ingress-nginx; the client address is not used.
        proxy_headers=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
    )
    DrainingServer(config, runtime).run()
    if runtime.load_error is not None:
        print(f"classifier: model load failed: {runtime.load_error}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


__all__ = ["DrainingServer", "main"]
