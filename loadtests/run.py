"""Run a load-test scenario with locust, write its JSON stats and HTML report, apply the gate.

    python loadtests/run.py smoke                                   # starts a local service
    python loadtests/run.py baseline --host https://classifier.example.com
    CLASSIFIER_TOKEN=... python loadtests/run.py soak --host https://...

Reports land in loadtests/reports/<scenario>-<UTC time>.{json,html}.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scenarios import SCENARIOS  # noqa: E402
from slo_gate import main as gate  # noqa: E402


@contextlib.contextmanager
def local_service() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"CLASSIFIER_PORT": str(port), "CLASSIFIER_LOG_LEVEL": "warning"}
    process = subprocess.Popen([sys.executable, "-m", "classifier"], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2).status == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def run(scenario_name: str, host: str, reports: Path) -> int:
    scenario = SCENARIOS[scenario_name]
    reports.mkdir(parents=True, exist_ok=True)
    stem = reports / f"{scenario_name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--host", host,
         "--users", str(scenario.users), "--spawn-rate", str(scenario.spawn_rate),
         "--run-time", scenario.run_time, "--json-file", str(stem), "--html", f"{stem}.html",
         "--only-summary"],
        check=False,
    )  # fmt: skip  # locust exits 1 on any failed request; the gate decides
    print(f"reports: {stem}.json, {stem}.html")
    verdict = gate([f"{stem}.json"])
    return verdict if scenario.gate else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--host", help="base URL; default: start a local service")
    parser.add_argument("--reports", type=Path, default=HERE / "reports")
    args = parser.parse_args()
    if args.host:
        return run(args.scenario, args.host, args.reports)
    with local_service() as host:
        return run(args.scenario, host, args.reports)


if __name__ == "__main__":
    sys.exit(main())
