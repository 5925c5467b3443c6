"""The one request path, whatever the protocol: a call goes through these steps, in this order.

1. deadline     from the client's timeout, at most the configured one (`deadlines`)
2. model        the served model, or 404 for another name, 503 while loading (`runtime`)
3. admission    a place in the pipeline, taken before the body is read (`admission`: 429)
4. body         read whole before the deadline (`RequestBody`: 413, 408 if too slow, 499)
5. parse        the protocol's parser: body -> images or a tensor, and top-k (400)
6. admission    as many places as the body holds images (413 beyond the capacity)
7. faults       drill-only latency and errors (`faults`)
8. pipeline     prepare -> batch -> model, answered 504 at the deadline (`inference`)
9. top-k        the labels, and the timings of every stage

The protocol adapters (`api.classify` for /v1, `api.oip` for the Open Inference Protocol)
only parse requests and render answers; errors are `ServiceError`s that `api.errors` turns
into HTTP responses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from classifier.deadlines import deadline_from_header
from classifier.errors import RequestTimeout
from classifier.inference import ImageClassifier, Inputs, Prediction, StageTimes
from classifier.runtime import Runtime


class Body(Protocol):
    async def read(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a protocol's parser found in a body."""

    inputs: Inputs
    top_k: int


@dataclass(frozen=True, slots=True)
class Call:
    """One inference request, as a protocol adapter hands it over."""

    model_name: str | None  # None: whichever model is served (/v1)
    timeout_ms: str | None  # the client's X-Request-Timeout-Ms, unparsed
    body: Body
    parse: Callable[[bytes, ImageClassifier], Parsed]


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
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    body = await call.body.read()
            except TimeoutError:
                raise RequestTimeout("the body did not arrive before the request's deadline") from None
            parsed = call.parse(body, model)
            await ticket.resize(parsed.inputs.count)
            await runtime.faults.apply()
            probabilities, stages = await model.run(parsed.inputs, deadline)
        return Answer(
            model=model,
            probabilities=probabilities,
            top_k=[model.top_k(row, parsed.top_k) for row in probabilities],
            timings=_timings(stages, started),
        )


def _timings(stages: StageTimes, started: float) -> Timings:
    return Timings(
        decode_ms=round(stages.decode_s * 1000, 3),
        preprocess_ms=round(stages.preprocess_s * 1000, 3),
        queue_and_inference_ms=round(stages.queue_and_inference_s * 1000, 3),
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )
