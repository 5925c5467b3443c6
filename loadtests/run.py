"""Run a load-test scenario with locust, write its JSON stats and HTML report, apply the gate.

    python loadtests/run.py smoke                                   # starts a local service
    python loadtests/run.py baseline --host https://classifier.example.com
    CLASSIFIER_TOKEN=... python loadtests/run.py soak --host https://...

Reports land in loadtests/reports/<scenario>-<UTC time>.{json,html}.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from classifier_testkit.server import local_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scenarios import SCENARIOS  # noqa: E402
from slo_gate import main as gate  # noqa: E402


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
    with local_server({"CLASSIFIER_LOG_LEVEL": "warning"}) as server:
        return run(args.scenario, server.base_url, args.reports)


if __name__ == "__main__":
    sys.exit(main())
