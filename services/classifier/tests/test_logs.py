"""One structured JSON log line per request, carrying the request id."""

from __future__ import annotations

import time

from .conftest import ServerProcess


def test_each_request_logs_one_json_line_with_its_id(server: ServerProcess, coffee_jpeg: bytes) -> None:
    server.client.post(
        "/v1/classify",
        content=coffee_jpeg,
        headers={"content-type": "image/jpeg", "x-request-id": "trace-42"},
    )
    server.client.get("/v2/models/unknown", headers={"x-request-id": "trace-43"})
    time.sleep(0.2)
    records = {r["request_id"]: r for r in server.log_records() if r.get("event") == "request"}
    ok, missing = records["trace-42"], records["trace-43"]
    assert (ok["route"], ok["method"], ok["status"]) == ("/v1/classify", "POST", 200)
    assert ok["duration_ms"] > 0
    assert (missing["route"], missing["status"]) == ("/v2/models/{name}", 404)
    assert all(set(r) >= {"ts", "level", "msg"} for r in server.log_records())
