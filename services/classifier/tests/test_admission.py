"""Admission: places are taken before a body is read, wait in line in order, and are refused
after the wait; a request never holds more places than the server has."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from classifier.admission import Admission
from classifier.errors import Overloaded, PayloadTooLarge
from classifier.metrics import ServiceMetrics

T = TypeVar("T")
FAR = 1e9  # a deadline that never comes


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def _refused(metrics: ServiceMetrics) -> float:
    return metrics.rejections.labels(reason="queue_full")._value.get()


def test_a_ticket_holds_one_place_until_its_block_ends() -> None:
    admission = Admission(2, 1, ServiceMetrics(), max_wait_s=0)

    async def scenario() -> list[int]:
        seen = []
        async with admission.ticket(FAR):
            seen.append(admission.pending)
        seen.append(admission.pending)
        return seen

    assert run(scenario) == [1, 0]


def test_a_full_pipeline_refuses_at_once_without_a_wait() -> None:
    metrics = ServiceMetrics()
    admission = Admission(1, 1, metrics, max_wait_s=0)

    async def scenario() -> None:
        async with admission.ticket(FAR):
            with pytest.raises(Overloaded) as refused:
                async with admission.ticket(FAR):
                    pass
            assert refused.value.headers["Retry-After"] == "1"

    run(scenario)
    assert _refused(metrics) == 1


def test_waiting_requests_are_let_in_first_come_first_served() -> None:
    admission = Admission(1, 1, ServiceMetrics(), max_wait_s=5)
    order: list[str] = []

    async def request(name: str, hold_s: float) -> None:
        async with admission.ticket(FAR):
            order.append(name)
            await asyncio.sleep(hold_s)

    async def scenario() -> None:
        first = asyncio.create_task(request("first", 0.05))
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(request(name, 0)) for name in ("second", "third", "fourth")]
        await asyncio.gather(first, *waiting)

    run(scenario)
    assert order == ["first", "second", "third", "fourth"]
    assert admission.pending == 0


def test_a_wait_ends_in_429_after_max_wait_or_at_the_deadline_if_sooner() -> None:
    metrics = ServiceMetrics()
    admission = Admission(1, 1, metrics, max_wait_s=0.2)

    async def waited(deadline: float) -> float:
        started = time.monotonic()
        with pytest.raises(Overloaded):
            async with admission.ticket(deadline):
                pass
        return time.monotonic() - started

    async def scenario() -> tuple[float, float]:
        async with admission.ticket(FAR):
            full_wait = await waited(FAR)
            short = await waited(time.monotonic() + 0.05)
        return full_wait, short

    full_wait, short = run(scenario)
    assert 0.19 <= full_wait < 0.5
    assert 0.04 <= short < 0.15
    assert _refused(metrics) == 2
    assert admission.pending == 0


def test_a_request_with_more_images_than_the_capacity_is_413_not_429() -> None:
    admission = Admission(4, 1, ServiceMetrics(), max_wait_s=1)

    async def scenario() -> None:
        async with admission.ticket(FAR) as ticket:
            with pytest.raises(PayloadTooLarge, match="6 images; this server takes at most 4"):
                ticket.grow(6)

    run(scenario)
    assert admission.pending == 0


def test_a_ticket_grows_into_free_places_only_and_never_waits_holding_its_body() -> None:
    """Its body is read by then: waiting would hold that body without a place (memory past the
    bound) and could wait on another grower. Free places are taken ahead of the line."""
    metrics = ServiceMetrics()
    admission = Admission(4, 1, metrics, max_wait_s=5)

    async def scenario() -> list[int]:
        seen = []
        async with admission.ticket(FAR) as first, admission.ticket(FAR) as second:
            first.grow(3)
            seen.append(admission.pending)
            started = time.monotonic()
            with pytest.raises(Overloaded):
                second.grow(2)
            assert time.monotonic() - started < 0.05
            seen.append(admission.pending)
        seen.append(admission.pending)
        return seen

    assert run(scenario) == [4, 4, 0]
    assert _refused(metrics) == 1


def test_a_ticket_knows_whether_it_waited_in_line() -> None:
    admission = Admission(1, 1, ServiceMetrics(), max_wait_s=5)

    async def scenario() -> tuple[bool, bool]:
        async def holder() -> None:
            async with admission.ticket(FAR):
                await asyncio.sleep(0.05)

        async with admission.ticket(FAR) as at_once:
            pass
        holding = asyncio.create_task(holder())
        await asyncio.sleep(0)
        async with admission.ticket(FAR) as after_waiting:
            pass
        await holding
        return at_once.waited, after_waiting.waited

    assert run(scenario) == (False, True)


def test_a_request_cancelled_while_waiting_leaves_the_line() -> None:
    admission = Admission(1, 1, ServiceMetrics(), max_wait_s=5)
    got_in: list[str] = []

    async def request(name: str) -> None:
        async with admission.ticket(FAR):
            got_in.append(name)

    async def scenario() -> None:
        async with admission.ticket(FAR):
            cancelled = asyncio.create_task(request("cancelled"))
            later = asyncio.create_task(request("later"))
            await asyncio.sleep(0.01)
            cancelled.cancel()
            await asyncio.sleep(0.01)
        await later
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    run(scenario)
    assert got_in == ["later"]
    assert admission.pending == 0
