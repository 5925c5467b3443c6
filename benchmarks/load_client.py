"""A light closed-loop HTTP/1.1 load client (asyncio streams, keep-alive, no HTTP library).

Each of ``--concurrency`` connections sends a request, waits for the whole answer, then sends
the next, cycling through the given image files, for ``--duration`` seconds after a warm-up.
It runs as its own process and prints one JSON object: throughput, latency percentiles,
status counts and socket errors. Light on CPU so that on a 2-core machine most of the CPU
goes to the server under test.

    python benchmarks/load_client.py --url http://127.0.0.1:8000/v1/classify \
        --concurrency 32 --duration 20 photo1.jpg photo2.jpg
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_by_status: dict[int, list[float]] = field(default_factory=dict)
    socket_errors: int = 0


def build_requests(url: str, bodies: list[bytes], content_type: str, headers: list[str]) -> list[bytes]:
    parsed = urlparse(url)
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    extra = "".join(f"{h}\r\n" for h in headers)
    return [
        (
            f"POST {target} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        + body
        for body in bodies
    ]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, float]:
    """(status, Retry-After seconds or 0) of one response, whose body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, retry_after = 0, 0.0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"retry-after":
            retry_after = float(value)
    if length:
        await reader.readexactly(length)
    return status, retry_after


async def connection_loop(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    stop_at: float,
    record_from: float,
    tally: Tally,
    honour_retry_after: bool,
) -> None:
    index = offset
    reader = writer = None
    while time.perf_counter() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            started = time.perf_counter()
            writer.write(requests[index % len(requests)])
            index += 1
            status, retry_after = await read_response(reader)
            finished = time.perf_counter()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            if time.perf_counter() >= record_from:
                tally.socket_errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        if started >= record_from and finished <= stop_at:
            tally.latencies.append(finished - started)
            tally.statuses[status] += 1
            tally.latencies_by_status.setdefault(status, []).append(finished - started)
        if honour_retry_after and retry_after:
            await asyncio.sleep(min(retry_after, max(0.0, stop_at - time.perf_counter())))
    if writer is not None:
        writer.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    bodies = [Path(p).read_bytes() for p in args.files]
    requests = build_requests(args.url, bodies, args.content_type, args.header)
    parsed = urlparse(args.url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    tally = Tally()
    now = time.perf_counter()
    record_from = now + args.warmup
    stop_at = record_from + args.duration
    await asyncio.gather(
        *(
            connection_loop(host, port, requests, i, stop_at, record_from, tally, args.honour_retry_after)
            for i in range(args.concurrency)
        )
    )
    ok = tally.latencies_by_status.get(200, [])
    return {
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "requests": len(tally.latencies),
        "throughput_rps": len(tally.latencies) / args.duration,
        "ok_rps": len(ok) / args.duration,
        "p50_ms": percentile(tally.latencies, 50) * 1000,
        "p90_ms": percentile(tally.latencies, 90) * 1000,
        "p99_ms": percentile(tally.latencies, 99) * 1000,
        "max_ms": max(tally.latencies, default=float("nan")) * 1000,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "p99_ms_by_status": {str(k): percentile(v, 99) * 1000 for k, v in tally.latencies_by_status.items()},
        "max_ms_by_status": {str(k): max(v) * 1000 for k, v in tally.latencies_by_status.items()},
        "socket_errors": tally.socket_errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--content-type", default="image/jpeg")
    parser.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    parser.add_argument(
        "--honour-retry-after",
        action="store_true",
        help="after a 429, wait Retry-After seconds (as clients should)",
    )
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)


if __name__ == "__main__":
    main()
