"""/metrics after a known sequence of requests, on a server of its own."""

from __future__ import annotations

import pytest

from classifier.class_groups import class_group, group_names
from classifier.metrics import OUTCOMES, outcome
from classifier.prediction_signals import GOLDEN_SET_HEADER
from classifier_testkit.server import ServerProcess, StartServer


@pytest.fixture(scope="module")
def fresh_server(start_server: StartServer) -> ServerProcess:
    return start_server()


def test_counts_match_known_requests(fresh_server: ServerProcess, coffee_jpeg: bytes) -> None:
    client = fresh_server.client
    for _ in range(3):
        assert (
            client.post(
                "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
            ).status_code
            == 200
        )
    assert (
        client.post("/v1/classify", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    )
    assert (
        client.post("/v1/classify", content=b"garbage", headers={"content-type": "image/png"}).status_code
        == 400
    )
    assert client.get("/v2/models/efficientnet-lite0").status_code == 200
    assert client.get("/v2/models/other-model").status_code == 404
    assert client.get("/no/such/path/unknown-segment").status_code == 404

    metric = fresh_server.metric
    assert metric("classifier_http_requests_total", route="/v1/classify", method="POST", code="200") == 3
    assert metric("classifier_http_requests_total", route="/v1/classify", method="POST", code="415") == 1
    assert metric("classifier_http_requests_total", route="/v1/classify", method="POST", code="400") == 1
    # Path parameters and unknown paths never become label values.
    assert metric("classifier_http_requests_total", route="/v2/models/{name}", method="GET", code="200") == 1
    assert metric("classifier_http_requests_total", route="/v2/models/{name}", method="GET", code="404") == 1
    assert metric("classifier_http_requests_total", route="<unmatched>", method="GET", code="404") == 1
    # Markers are words, never digits: a sample value (a float) may contain any digit run.
    exposition = client.get("/metrics").text
    assert "unknown-segment" not in exposition
    assert "other-model" not in exposition

    # Timed by outcome: the latency SLI counts successes only, so the 415 and the 400 stand apart.
    duration = "classifier_http_request_duration_seconds_count"
    assert metric(duration, route="/v1/classify", method="POST", outcome="success") == 3
    assert metric(duration, route="/v1/classify", method="POST", outcome="client_error") == 2
    assert metric("classifier_images_total") == 3
    assert metric("classifier_inference_duration_seconds_count") == 3  # the warm-up is not observed
    assert metric("classifier_decode_duration_seconds_count") == 3
    assert metric("classifier_preprocess_duration_seconds_count") == 3
    assert metric("classifier_http_requests_in_flight") == 1  # the /metrics request itself
    assert metric("classifier_model_loaded") == 1
    assert metric("classifier_fault_injection_enabled") == 0
    assert (
        metric(
            "classifier_model_info",
            name="efficientnet-lite0",
            version="1",
            backend="onnxruntime",
            device="cpu",
        )
        == 1
    )
    # What the model answered: three espressos (the 400 and 415 were never classified).
    model = {"name": "efficientnet-lite0", "version": "1"}
    espresso = class_group("espresso")
    assert metric("classifier_predictions_total", **model, class_group=espresso) == 3
    assert sum(metric("classifier_predictions_total", **model, class_group=g) for g in group_names()) == 3
    assert metric("classifier_prediction_confidence_count", **model) == 3
    assert metric("classifier_prediction_confidence_bucket", **model, le="0.1") == 0
    assert metric("classifier_prediction_confidence_bucket", **model, le="+Inf") == 3


def test_latency_buckets_bracket_the_slo(fresh_server: ServerProcess) -> None:
    text = fresh_server.client.get("/metrics").text
    for bound in ('le="0.005"', 'le="0.25"', 'le="0.5"', 'le="1.0"', 'le="5.0"'):
        assert f"classifier_http_request_duration_seconds_bucket{{{bound}" in text


def test_gpu_metrics_appear_only_with_a_gpu(fresh_server: ServerProcess) -> None:
    import torch

    text = fresh_server.client.get("/metrics").text
    assert ("classifier_gpu_utilization_ratio" in text) == torch.cuda.is_available()


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "success"), (304, "success"), (400, "client_error"), (415, "client_error"), (429, "rejected"),
     (500, "error"), (503, "error"), (504, "error")],
)  # fmt: skip
def test_outcome_tells_refusals_from_client_mistakes_and_errors(status: int, expected: str) -> None:
    assert outcome(status) == expected
    assert expected in OUTCOMES


def test_the_golden_set_is_left_out_of_the_model_quality_metrics(
    fresh_server: ServerProcess, coffee_jpeg: bytes
) -> None:
    """The paired check's requests reach canary and stable alike, whatever their traffic weights:
    counted, they would make a healthy canary's class mix look unlike stable's."""
    model = {"name": "efficientnet-lite0", "version": "1"}

    def answered() -> float:
        return sum(
            fresh_server.metric("classifier_predictions_total", **model, class_group=g) for g in group_names()
        )

    before, images = answered(), fresh_server.metric("classifier_images_total")
    golden = {"content-type": "image/jpeg", GOLDEN_SET_HEADER: "1"}
    assert fresh_server.client.post("/v1/classify", content=coffee_jpeg, headers=golden).status_code == 200
    assert answered() == before
    assert fresh_server.metric("classifier_images_total") == images + 1  # computed all the same
    plain = {"content-type": "image/jpeg"}
    assert fresh_server.client.post("/v1/classify", content=coffee_jpeg, headers=plain).status_code == 200
    assert answered() == before + 1
