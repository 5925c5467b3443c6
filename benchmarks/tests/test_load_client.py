"""The benchmark's load client: counts what the server answered, honours Retry-After, counts socket errors."""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import load_client  # noqa: E402

from classifier_testkit import photos  # noqa: E402
from classifier_testkit.ports import free_port  # noqa: E402
from classifier_testkit.server import local_server  # noqa: E402

MODEL_DIR = BENCHMARKS.parent / "artifacts" / "efficientnet-lite0" / "1"


def run_client(
    url: str, files: list[Path], *, concurrency: int, seconds: float, honour: bool = False, raw: bool = False
) -> Any:
    args = argparse.Namespace(
        url=url,
        concurrency=concurrency,
        duration=seconds,
        warmup=0.0,
        content_type="image/jpeg",
        header=[],
        honour_retry_after=honour,
        raw_latencies=raw,
        files=[str(f) for f in files],
    )
    return uvloop.run(load_client.run(args))


@pytest.fixture
def photo_files(tmp_path: Path) -> list[Path]:
    paths = []
    for name in ("coffee", "chelsea"):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(photos.encode(name))
        paths.append(path)
    return paths


@pytest.fixture
def always_429() -> Iterator[str]:
    """A server that refuses every request with 429 and Retry-After: 1."""
    answer = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\nRetry-After: 1\r\n\r\n{}"
    port = free_port()
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1/classify"
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_head_parsing() -> None:
    head = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 57\r\nRetry-After: 2\r\nx-request-id: abc"
    assert load_client.parse_head(head) == (429, 57, 2.0)
    assert load_client.parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: application/json") == (200, 0, 0.0)


def test_counts_every_answer_of_a_real_server(photo_files: list[Path]) -> None:
    with local_server({"CLASSIFIER_MODEL_DIR": str(MODEL_DIR)}) as server:
        result = run_client(server.base_url + "/v1/classify", photo_files, concurrency=3, seconds=2)
    assert result["requests"] > 10
    assert result["statuses"] == {"200": result["requests"]}
    assert result["socket_errors"] == 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_raw_latencies_are_every_recorded_answer_so_clients_merge(
    always_429: str, photo_files: list[Path]
) -> None:
    result = run_client(always_429, photo_files, concurrency=2, seconds=1, raw=True)
    assert list(result["latencies_ms_by_status"]) == ["429"]
    assert len(result["latencies_ms_by_status"]["429"]) == result["requests"] > 10
    assert max(result["latencies_ms_by_status"]["429"]) == pytest.approx(result["max_ms"], abs=0.001)
    assert "latencies_ms_by_status" not in run_client(always_429, photo_files, concurrency=1, seconds=0.2)
    assert result["client_cpu_s"] > 0


def test_retry_after_is_honoured_only_when_asked(always_429: str, photo_files: list[Path]) -> None:
    patient = run_client(always_429, photo_files, concurrency=2, seconds=1.5, honour=True)
    impatient = run_client(always_429, photo_files, concurrency=2, seconds=1.5)
    assert patient["statuses"] == {"429": 4}  # each connection: at 0 s and after its 1 s wait
    assert impatient["requests"] > 100
    assert patient["socket_errors"] == impatient["socket_errors"] == 0


def test_refused_connections_are_socket_errors(photo_files: list[Path]) -> None:
    result = run_client(
        f"http://127.0.0.1:{free_port()}/v1/classify", photo_files, concurrency=2, seconds=0.5
    )
    assert result["requests"] == 0
    assert result["socket_errors"] > 2
