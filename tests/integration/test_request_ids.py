"""Every request gets an id: the caller's `X-Request-ID` when it is a plain token, else a new one;
it is sent back, bound into each log line of the request with the trace id, and names no path."""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.telemetry import setup_tracing
from core.telemetry_settings import TelemetrySettings
from serving.logs import RequestIds, start_logging, stop_logging


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        structlog.get_logger("test").info("thing_read")
        return {"id": thing_id}

    app.add_middleware(RequestIds)
    return app


def test_request_ids_are_returned_and_logged_with_the_trace_id(tmp_path: Path) -> None:
    setup_tracing(TelemetrySettings(service_name="sillok-test"))
    log_file = tmp_path / "sillok.log"
    start_logging("INFO", "json", log_file)
    try:
        with TestClient(_app()) as client:
            given = client.get("/api/v1/things/t1", headers={"X-Request-ID": "req-abc.123"})
            made = client.get("/api/v1/things/t2")
            hostile = client.get("/api/v1/things/t3", headers={"X-Request-ID": "bad id <script>" * 20})
    finally:
        stop_logging()
    assert given.headers["x-request-id"] == "req-abc.123"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "bad id <script>" * 20
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    read = [r for r in records if r.get("event") == "thing_read"]
    assert [r["request_id"] for r in read] == [
        "req-abc.123",
        made.headers["x-request-id"],
        hostile.headers["x-request-id"],
    ]
    trace_ids = {r["trace_id"] for r in read}
    assert len(trace_ids) == 3 and all(len(t) == 32 for t in trace_ids)  # one trace per request
