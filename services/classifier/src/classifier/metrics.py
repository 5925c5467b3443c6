"""Prometheus metrics the service exports. Names and labels here are a contract with
platform/ (alerts, dashboards) and rollouts/ (canary analysis): change them together.

Label values are bounded: routes are templates (``/v2/models/{name}/infer``), never raw paths.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from classifier import __version__

# Request latency buckets bracket the latency SLO (see platform/slos): fine-grained from a
# few ms (one image on an idle pod) to the SLO threshold, coarse up to the deadline.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
)
# Stage durations are per image (decode/preprocess) or per batch (inference): ms range.
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)

# Top-1 confidence, for the model-quality canary and drift alerts: tenths, and finer near 1,
# where a healthy model's confident answers pile up.
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)

UNMATCHED_ROUTE = "<unmatched>"
# The request histogram's `outcome` values. The latency SLI counts successes only (a fast 429 or
# 400 is not a fast answer: platform/slo/slos.yaml); four values instead of every status code
# keep the histogram's series count bounded (24 per route, method and outcome: 21 buckets with
# +Inf, _count, _sum and _created).
OUTCOMES = ("success", "client_error", "rejected", "error")


def outcome(status: int) -> str:
    """The kind of answer a status is: 429 is the service refusing work, not a client's mistake."""
    if status == 429:
        return "rejected"
    if status >= 500:
        return "error"
    return "client_error" if status >= 400 else "success"


class ServiceMetrics:
    """All metrics of one app instance, on its own registry (tests build several apps)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "classifier_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "classifier_http_request_duration_seconds",
            "Time from request received to response sent, by route template, method and outcome "
            "(success, client_error, rejected: 429, error: 5xx).",
            ["route", "method", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "classifier_http_requests_in_flight", "HTTP requests being handled now.", registry=r
        )
        self.decode_duration = Histogram(
            "classifier_decode_duration_seconds",
            "Image decode time per image.",
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.preprocess_duration = Histogram(
            "classifier_preprocess_duration_seconds",
            "Resize, crop and normalise time per image.",
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "classifier_inference_duration_seconds",
            "Model forward time per call (one call may hold a batch).",
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.images = Counter(
            "classifier_images", "Images classified (one request may hold several).", registry=r
        )
        self.model_info = Gauge(
            "classifier_model_info",
            "The loaded model; value is 1.",
            ["name", "version", "backend", "device"],
            registry=r,
        )
        self.model_loaded = Gauge(
            "classifier_model_loaded", "1 once the model is loaded and warmed up, else 0.", registry=r
        )
        self.build_info = Gauge(
            "classifier_build_info", "Service build; value is 1.", ["version", "python"], registry=r
        )
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)
        self.queue_depth = Gauge("classifier_queue_depth", "Images waiting in the batch queue.", registry=r)
        self.queue_capacity = Gauge(
            "classifier_queue_capacity",
            "Images admitted at once; more wait in line, then get 429 (see classifier_pending_images).",
            registry=r,
        )
        self.pending = Gauge(
            "classifier_pending_images",
            "Images admitted and not yet answered (body arriving, decoding, queued or computing).",
            registry=r,
        )
        self.queue_wait = Histogram(
            "classifier_queue_wait_seconds",
            "Time an image spent queued before its batch started.",
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "classifier_batch_size",
            "Images per model call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.device_decode_fallbacks = Counter(
            "classifier_device_decode_fallbacks",
            "JPEGs the device could not decode, prepared on the CPU instead (decode stage device).",
            registry=r,
        )
        self.rejections = Counter(
            "classifier_rejections",
            "Requests refused without being computed, by reason (queue_full, deadline).",
            ["reason"],
            registry=r,
        )
        for reason in ("queue_full", "deadline"):
            self.rejections.labels(reason=reason)
        # Model quality (classifier/prediction_signals.py): per classified image, what it was
        # answered and how sure the model was; `name` and `version` as in classifier_model_info.
        self.predictions = Counter(
            "classifier_predictions",
            "Classified images by the class group of their top-1 answer (classifier/class_groups.py).",
            ["name", "version", "class_group"],
            registry=r,
        )
        self.prediction_confidence = Histogram(
            "classifier_prediction_confidence",
            "Top-1 probability of each classified image.",
            ["name", "version"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.fault_injection = Gauge(
            "classifier_fault_injection_enabled",
            "1 while drill fault injection is on (never in normal operation).",
            registry=r,
        )
