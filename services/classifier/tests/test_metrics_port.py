"""With CLASSIFIER_METRICS_PORT set, /metrics leaves the API port for its own."""

from __future__ import annotations

import httpx

from classifier_testkit.ports import free_port
from classifier_testkit.server import StartServer


def test_metrics_move_to_their_own_port(start_server: StartServer, coffee_jpeg: bytes) -> None:
    port = free_port()
    server = start_server(metrics_port=str(port))
    assert (
        server.client.post(
            "/v1/classify", content=coffee_jpeg, headers={"content-type": "image/jpeg"}
        ).status_code
        == 200
    )
    assert server.client.get("/metrics").status_code == 404
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'classifier_http_requests_total{code="200",method="POST",route="/v1/classify"} 1.0' in text
    server.stop()
