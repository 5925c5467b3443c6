"""The peer comparison's report: every server set against the best peer of its run, never the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import compare_servers  # noqa: E402

SERVICE, LITSERVE, TORCHSERVE = "classifier efficientnet-lite0:1", "LitServe 0.2.19", "TorchServe 0.12.0"
PEERS = {LITSERVE, TORCHSERVE}


def _run(server: str, concurrency: int, images_per_s: float, p50: float, p99: float) -> dict[str, Any]:
    return {
        "server": server,
        "concurrency": concurrency,
        "ok_rps": images_per_s,
        "p50_ms": p50,
        "p99_ms": p99,
        "statuses": {"200": int(images_per_s * 20)},
        "socket_errors": 0,
        "client_cpu_ms_per_request": 0.4,
    }


RUNS = [
    _run(SERVICE, 1, 80.0, 12.0, 20.0),
    _run(LITSERVE, 1, 40.0, 24.0, 40.0),
    _run(TORCHSERVE, 1, 50.0, 20.0, 50.0),
    _run(SERVICE, 8, 90.0, 80.0, 100.0),
    _run(LITSERVE, 8, 60.0, 120.0, 200.0),
    _run(TORCHSERVE, 8, 30.0, 250.0, 400.0),
]


def _by_server(rows: list[dict[str, Any]], concurrency: int) -> dict[str, dict[str, Any]]:
    return {row["server"]: row for row in rows if row["concurrency"] == concurrency}


def test_each_concurrency_has_its_own_best_peer_and_the_service_is_never_it() -> None:
    rows = compare_servers.ratios(RUNS, PEERS)
    assert {row["best_peer"] for row in rows if row["concurrency"] == 1} == {TORCHSERVE}
    assert {row["best_peer"] for row in rows if row["concurrency"] == 8} == {LITSERVE}
    at_8 = _by_server(rows, 8)
    assert at_8[SERVICE]["images_per_s"] == pytest.approx(1.5)
    assert at_8[SERVICE]["p50"] == pytest.approx(80 / 120)
    assert at_8[SERVICE]["p99"] == pytest.approx(0.5)
    assert at_8[TORCHSERVE]["images_per_s"] == pytest.approx(0.5)
    assert at_8[LITSERVE] | {"best_peer": None} == {
        "concurrency": 8,
        "server": LITSERVE,
        "best_peer": None,
        "images_per_s": 1.0,
        "p50": 1.0,
        "p99": 1.0,
    }


def test_a_run_without_peers_has_no_ratios_and_a_silent_peer_gives_nan_not_an_error() -> None:
    assert compare_servers.ratios(RUNS[:1], PEERS) == []
    silent = [_run(SERVICE, 32, 70.0, 400.0, 500.0), _run(LITSERVE, 32, 0.0, 0.0, 0.0)]
    (service, _) = compare_servers.ratios(silent, PEERS)
    assert service["images_per_s"] != service["images_per_s"]  # nan


def _report() -> dict[str, Any]:
    return {
        "date": "2026-12-01 08:00 UTC",
        "machine": {"cpu": "AMD EPYC", "cores": 2, "python": "3.11.7", "java": 'openjdk version "17.0.15"'},
        "peer_model": "artifacts/efficientnet-lite0/1/model.onnx",
        "photos": "coffee 600x400 (scikit-image), JPEG quality 90",
        "warmup_s": 3.0,
        "duration_s": 20.0,
        "servers": [
            {"name": SERVICE, "peer": False, "settings": "defaults"},
            {"name": LITSERVE, "peer": True, "settings": "2 workers"},
            {"name": TORCHSERVE, "peer": True, "settings": "2 workers"},
        ],
        "runs": RUNS,
    }


def test_the_report_names_its_command_and_machine_and_has_a_row_per_run_and_ratio() -> None:
    command = ".venv/bin/python benchmarks/compare_servers.py --output docs/performance-peers.md"
    text = compare_servers.markdown(_report(), command)
    assert f"```\n{command}\n```" in text
    assert "Machine: AMD EPYC, 2 cores; 2026-12-01 08:00 UTC; Python 3.11.7" in text
    assert f"| {SERVICE} | 8 | 90.0 | 80.0 | 100.0 | 200: 1800 | 0 | 0.40 |" in text
    assert f"| 8 | {SERVICE} | {LITSERVE} | 1.50x | 0.67x | 0.50x |" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(table_rows) == len(RUNS)


def test_the_command_line_is_the_one_to_paste_in_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(compare_servers.REPO / ".venv" / "bin" / "python"))
    argv = [
        str(compare_servers.REPO / "benchmarks" / "compare_servers.py"),
        "--duration",
        "2",
        "--concurrency",
        "1",
        "8",
    ]
    assert compare_servers.command_line(argv) == (
        ".venv/bin/python benchmarks/compare_servers.py --duration 2 --concurrency 1 8"
    )


def test_the_peers_versions_are_read_from_their_lock() -> None:
    """requirements/peers.txt is a lock (tools/tests/test_locks.py checks it is exact and hashed)."""
    assert compare_servers.pinned("litserve") == "0.2.19"
    assert compare_servers.pinned("torch") == "2.13.0+cpu"
    assert compare_servers.pinned("torchserve") == "0.12.0"
    with pytest.raises(KeyError):
        compare_servers.pinned("flask")
