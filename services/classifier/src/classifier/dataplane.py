"""The one request path, whatever the protocol: a call goes through these steps, in this order.

1. deadline     from the client's timeout, at most the configured one (`deadlines`)
2. model        the served model, or 404 for another name, 503 while loading (`runtime`)
3. admission    a place in the pipeline, taken before the body is read (`admission`: 429)
4. body         read whole before the deadline (`RequestBody`: 413; 408 if the client was slow,
                504 if the wait in line left too little time; 499 if the client left)
5. parse        the protocol's parser: body -> images or a tensor, and top-k (400)
6. admission    as many places as the body holds images (413 beyond the capacity, else 429)
7. faults       drill-only latency and errors (`faults`)
8. pipeline     prepare -> batch -> model, answered 504 at the deadline (`inference`)
9. top-k        the labels, and the timings of every stage

From the body on, a client that goes away is noticed at once: its work is dropped and the
request is recorded as 499.

The protocol adapters (`api.classify` for /v1, `api.oip` for the Open Inference Protocol)
only parse requests and render answers; errors are `ServiceError`s that `api.errors` turns
into HTTP responses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from classifier.deadlines import deadline_from_header
from classifier.errors import ClientClosedRequest, DeadlineExceeded, RequestTimeout
from classifier.inference import ImageClassifier, Inputs, Prediction, StageTimes
from classifier.runtime import Runtime

T = TypeVar("T")


class Body(Protocol):
    async def read(self) -> bytes:
        """The whole body (ClientClosedRequest if the client leaves first)."""
        ...

    async def gone(self) -> None:
        """Return when the client goes away (after `read`)."""
        ...


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a protocol's parser found in a body."""

    inputs: Inputs
    top_k: int
    document: object = None  # the protocol's parsed request, handed back to its renderer


@dataclass(frozen=True, slots=True)
class Call:
    """One inference request, as a protocol adapter hands it over."""

    model_name: str | None  # None: whichever model is served (/v1)
    timeout_ms: str | None  # the client's X-Request-Timeout-Ms, unparsed
    body: Body
    parse: Callable[[bytes, ImageClassifier], Parsed]
    # The paired model-quality check's golden set, not user traffic: left out of the
    # model-quality metrics, whose canary-against-stable comparison assumes each arm gets the
    # traffic its weight gives it (the check sends every image to both).
    golden_set: bool = False


@dataclass(frozen=True, slots=True)
class Timings:
    decode_ms: float
    preprocess_ms: float
    queue_and_inference_ms: float
    total_ms: float


@dataclass(frozen=True, slots=True)
class Answer:
    model: ImageClassifier
    probabilities: npt.NDArray[np.float32]  # [images, classes]
    top_k: list[list[Prediction]]  # per image, best first
    timings: Timings
    document: object  # `Parsed.document`


class DataPlane:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.max_body_bytes = runtime.settings.max_body_bytes

    async def infer(self, call: Call) -> Answer:
        started = time.perf_counter()
        runtime = self._runtime
        deadline = deadline_from_header(call.timeout_ms, runtime.settings.request_timeout_s)
        model = runtime.model(call.model_name)
        async with model.admission.ticket(deadline) as ticket:
            body = await _read(call.body, deadline, ticket.waited)
            parsed = call.parse(body, model)
            ticket.grow(parsed.inputs.count)
            probabilities, stages = await _unless_client_leaves(
                call.body, self._compute(model, parsed.inputs, deadline)
            )
        if not call.golden_set:
            model.signals.observe(probabilities)
        return Answer(
            model=model,
            probabilities=probabilities,
            top_k=[model.top_k(row, parsed.top_k) for row in probabilities],
            timings=_timings(stages, started),
            document=parsed.document,
        )

    async def _compute(
        self, model: ImageClassifier, inputs: Inputs, deadline: float
    ) -> tuple[npt.NDArray[np.float32], StageTimes]:
        faults = self._runtime.faults
        if faults.enabled:  # drill latency counts against the deadline like any other
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    await faults.apply()
            except TimeoutError:
                raise DeadlineExceeded("the request's deadline passed before it was computed") from None
        return await model.run(inputs, deadline)


async def _read(body: Body, deadline: float, waited: bool) -> bytes:
    """The body before the deadline. Past it, a 408 blames the client only when it had the whole
    time: a request that waited in line could not send its body meanwhile (the server stops
    reading a connection it does not serve), so it is the server's 504."""
    try:
        async with asyncio.timeout(deadline - time.monotonic()):
            return await body.read()
    except TimeoutError:
        if waited:
            raise DeadlineExceeded("the request's deadline passed while it waited for its body") from None
        raise RequestTimeout("the body did not arrive before the request's deadline") from None


async def _unless_client_leaves(body: Body, work: Awaitable[T]) -> T:
    """``work``'s result, or ClientClosedRequest as soon as the client goes away: the work is
    cancelled, so whatever it left in the pipeline is dropped (`inference`)."""
    task = asyncio.current_task()
    assert task is not None
    working = True

    async def cancel_when_gone() -> None:
        await body.gone()
        if working:
            task.cancel()

    watcher = asyncio.create_task(cancel_when_gone())
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled() and task.uncancel() == 0:
            raise ClientClosedRequest("the client went away before its answer") from None
        raise
    finally:
        working = False
        watcher.cancel()


def _timings(stages: StageTimes, started: float) -> Timings:
    return Timings(
        decode_ms=round(stages.decode_s * 1000, 3),
        preprocess_ms=round(stages.preprocess_s * 1000, 3),
        queue_and_inference_ms=round(stages.queue_and_inference_s * 1000, 3),
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )
