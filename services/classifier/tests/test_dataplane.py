"""The data plane's own decisions: whose fault a late body is, and a client that leaves."""

from __future__ import annotations

import asyncio
import time

import pytest

from classifier.dataplane import _read, _unless_client_leaves
from classifier.errors import ClientClosedRequest, DeadlineExceeded, RequestTimeout


class _Body:
    """A body that never finishes arriving, from a client that leaves after `leaves_after` s."""

    def __init__(self, leaves_after: float = 3600) -> None:
        self._leaves_after = leaves_after

    async def read(self) -> bytes:
        await asyncio.sleep(3600)
        return b""

    async def gone(self) -> None:
        await asyncio.sleep(self._leaves_after)


@pytest.mark.parametrize(("waited", "error"), [(False, RequestTimeout), (True, DeadlineExceeded)])
def test_a_body_late_at_the_deadline_is_the_clients_408_unless_the_request_waited_in_line(
    waited: bool, error: type[Exception]
) -> None:
    """While a request waits in line the server does not read its socket, so a body that could
    not arrive in the time left is the server's doing: 504, not 408."""
    with pytest.raises(error):
        asyncio.run(_read(_Body(), time.monotonic() + 0.05, waited))


def test_a_client_that_leaves_mid_work_is_499_and_its_work_is_cancelled() -> None:
    cancelled = []

    async def work() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "done"

    async def scenario() -> None:
        started = time.monotonic()
        with pytest.raises(ClientClosedRequest):
            await _unless_client_leaves(_Body(leaves_after=0.05), work())
        assert time.monotonic() - started < 1
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    asyncio.run(scenario())
    assert cancelled == [True]


def test_work_that_finishes_first_is_answered_and_the_watch_ends() -> None:
    async def work() -> str:
        await asyncio.sleep(0.01)
        return "done"

    async def scenario() -> str:
        result = await _unless_client_leaves(_Body(leaves_after=0.02), work())
        await asyncio.sleep(0.05)  # the client leaving now must not cancel anything
        return result

    assert asyncio.run(scenario()) == "done"
