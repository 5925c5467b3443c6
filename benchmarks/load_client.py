"""A light closed-loop HTTP/1.1 load client (uvloop, a protocol per connection, keep-alive).

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
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlparse

import uvloop

# How long after the end of the run a connection still waits for an answer before giving up.
UNANSWERED_AFTER_STOP_S = 30.0


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


def parse_head(head: bytes) -> tuple[int, int, float]:
    """(status, Content-Length, Retry-After seconds or 0) of a response head without its blank line."""
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
    return status, length, retry_after


@dataclass
class Plan:
    """What every connection does: which requests, when to record, when to stop."""

    requests: list[bytes]
    record_from: float
    stop_at: float
    honour_retry_after: bool
    tally: Tally

    def record(self, started: float, finished: float, status: int) -> None:
        if started >= self.record_from and finished <= self.stop_at:
            self.tally.latencies.append(finished - started)
            self.tally.statuses[status] += 1
            self.tally.latencies_by_status.setdefault(status, []).append(finished - started)


class ClosedLoopConnection(asyncio.Protocol):
    """One keep-alive connection: send a request, read the whole answer, send the next.

    A protocol rather than streams: the callbacks run straight from the event loop, which
    halves the client's CPU per request, CPU that the server under test would otherwise lose.
    """

    def __init__(self, plan: Plan, index: int) -> None:
        self.plan = plan
        self.index = index  # of the next request, cycling through plan.requests
        self.closed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer_length: int | None = None  # head + body, once the head has arrived
        self._status = 0
        self._retry_after = 0.0
        self._started = 0.0
        self._awaiting_answer = False
        self._pause: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _send(self) -> None:
        assert self._transport is not None
        if time.perf_counter() >= self.plan.stop_at:
            self._transport.close()
            return
        self._buffer.clear()
        self._answer_length = None
        self._awaiting_answer = True
        self._started = time.perf_counter()
        self._transport.write(self.plan.requests[self.index % len(self.plan.requests)])
        self.index += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._answer_length is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._status, body_length, self._retry_after = parse_head(bytes(self._buffer[:end]))
            self._answer_length = end + 4 + body_length
        if len(self._buffer) < self._answer_length:
            return
        self._awaiting_answer = False
        self.plan.record(self._started, time.perf_counter(), self._status)
        if self.plan.honour_retry_after and self._retry_after:
            wait = min(self._retry_after, max(0.0, self.plan.stop_at - time.perf_counter()))
            self._pause = asyncio.get_running_loop().call_later(wait, self._send)
        else:
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pause is not None:
            self._pause.cancel()
        # An error is a connection that broke, or closed while an answer was due.
        self.closed.set_result(exc is not None or self._awaiting_answer)


async def connection_loop(host: str, port: int, plan: Plan, offset: int) -> None:
    """Keep one connection busy until the plan stops; reconnect after a socket error."""
    loop = asyncio.get_running_loop()
    index = offset
    while time.perf_counter() < plan.stop_at:
        try:
            connection = ClosedLoopConnection(plan, index)
            await loop.create_connection(lambda: connection, host, port)  # noqa: B023 (called before the loop moves on)
            patience = plan.stop_at - time.perf_counter() + UNANSWERED_AFTER_STOP_S
            failed = await asyncio.wait_for(asyncio.shield(connection.closed), max(0.0, patience))
            index = connection.index
        except TimeoutError:  # an answer that never came: give up on it
            connection.abort()
            failed = True
        except OSError:
            failed = True
        if failed:
            if time.perf_counter() >= plan.record_from:
                plan.tally.socket_errors += 1
            await asyncio.sleep(0.01)


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
    record_from = time.perf_counter() + args.warmup
    plan = Plan(requests, record_from, record_from + args.duration, args.honour_retry_after, tally)
    await asyncio.gather(*(connection_loop(host, port, plan, i) for i in range(args.concurrency)))
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
        # This process's own CPU (start-up included): a client near one core is the bottleneck.
        "client_cpu_s": _own_cpu_seconds(),
    } | ({"latencies_ms_by_status": _raw(tally)} if args.raw_latencies else {})


def _raw(tally: Tally) -> dict[str, list[float]]:
    return {str(k): [round(t * 1000, 3) for t in v] for k, v in tally.latencies_by_status.items()}


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    parser.add_argument(
        "--raw-latencies",
        action="store_true",
        help="also print every recorded latency by status, so several clients' percentiles can be merged",
    )
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    json.dump(uvloop.run(run(args)), sys.stdout)


if __name__ == "__main__":
    main()
