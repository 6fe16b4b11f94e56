"""Traces across processes: API-side span → Celery message on Redis → worker task, one trace id;
and a chat's retrieval and generation under the request's span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.acl import Principal
from core.settings import IngestSettings, LimitSettings, LLMSettings, Settings
from core.telemetry import setup_tracing, tracer
from core.telemetry_settings import TelemetrySettings
from ingest.queue import TaskQueue
from ingest.tasks import INGEST_QUEUE, LIGHT_QUEUE, configure
from retrieval.llm import OpenAICompatibleLLM
from retrieval.retriever import Retriever
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from tests.servers.scripted_openai import scripted_openai

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://localhost:6379/13"  # a database of its own: other tests use the default queues


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    provider = setup_tracing(TelemetrySettings(service_name="sillok-api"))
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.clear()


class _Registry:
    def mark_enqueued(self, document_id: str, version: str) -> None:
        self.marked = (document_id, version)


def _span_hex(span_id: int) -> str:
    return f"{span_id:016x}"


def _read(
    path: Path, name: str, worker: subprocess.Popen[bytes], timeout: float = 60.0
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        if path.exists():
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if any(r["name"] == name for r in records):
                return records
        time.sleep(0.2)
    if worker.poll() is not None:
        stderr = worker.stderr.read().decode(errors="replace") if worker.stderr else ""
        raise AssertionError(f"the worker exited with {worker.returncode}: {stderr[-2000:]}")
    raise AssertionError(f"no {name} span from the worker within {timeout}s")


def test_an_ingestion_is_one_trace_from_the_api_to_the_worker(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    redis.Redis.from_url(BROKER).flushdb()
    span_file = tmp_path / "worker-spans.jsonl"
    env = {**os.environ, "TRACE_TEST_BROKER": BROKER, "TRACE_TEST_SPANS": str(span_file)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.integration.trace_worker", "worker",
         "-P", "solo", "-Q", f"{INGEST_QUEUE},{LIGHT_QUEUE}", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    # A producer of its own: the module-level app may hold pooled connections to another broker.
    producer = configure(
        Celery("sillok-trace-test", set_as_current=False),
        Settings(ingest=IngestSettings(broker_url=BROKER)),
    )
    try:
        with tracer.start_as_current_span("POST /api/v1/documents") as request:
            assert TaskQueue(producer, _Registry()).ingest("doc-1", "v1")  # type: ignore[arg-type]
        records = _read(span_file, "pipeline.process", worker)
    finally:
        producer.close()
        worker.terminate()
        worker.wait(timeout=30)
    ours = {s.name: s for s in spans.get_finished_spans()}
    send = ours["send sillok.ingest_version"]
    trace_id = f"{request.get_span_context().trace_id:032x}"
    by_name = {str(r["name"]): r for r in records}
    run = by_name["run sillok.ingest_version"]
    assert send.parent is not None and send.parent.span_id == request.get_span_context().span_id
    assert run["trace_id"] == trace_id
    assert run["parent_id"] == _span_hex(send.get_span_context().span_id)
    assert by_name["pipeline.process"]["trace_id"] == trace_id
    assert by_name["pipeline.process"]["parent_id"] == run["span_id"]


class _Embedder:
    name, dimension, max_tokens = "test", 3, 512

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0, 0.0]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class _Index:
    def query(self, *_: object) -> list[object]:
        return []


def test_a_chat_request_traces_its_search_and_its_generation(spans: InMemorySpanExporter) -> None:
    spans.clear()
    retriever = Retriever(_Embedder(), _Index(), lambda p, ids: {})  # type: ignore[arg-type]
    with scripted_openai() as server:
        llm = OpenAICompatibleLLM(LLMSettings(base_url=server.url, model=server.model))
        try:
            with tracer.start_as_current_span("POST /api/v1/chat") as request:
                retriever.search(Principal("ana", user_id="u1"), "leave policy", 5)
                answer = "".join(llm.stream([{"role": "user", "content": "leave policy?"}]))
        finally:
            llm.close()
    assert answer
    ours = {s.name: s for s in spans.get_finished_spans()}
    root = request.get_span_context()
    for name in ("retrieval.index_query", "llm.stream"):
        span = ours[name]
        assert span.get_span_context().trace_id == root.trace_id
        assert span.parent is not None and span.parent.span_id == root.span_id
    assert [e.name for e in ours["llm.stream"].events] == ["first_token"]


def test_an_api_request_has_a_server_span_a_request_id_and_its_metrics(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    spans.clear()
    settings = Settings(
        data_dir=tmp_path / "data",
        bootstrap_admin_token="tracing-admin-token-0123456789abcdef",
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        embedding={"backend": "sentence-transformers"},
        log_level="WARNING",
    )
    container = ApiServices(settings)
    try:
        with TestClient(create_app(container)) as client:
            headers = {
                "Authorization": "Bearer tracing-admin-token-0123456789abcdef",
                "X-Request-ID": "req-42",
            }
            missing = client.get("/api/v1/documents/00000000-0000-0000-0000-000000000001", headers=headers)
            generated = client.get("/healthz", headers={"X-Request-ID": "not a token\\n"})
            metrics = client.get("/metrics").text
    finally:
        container.close()
    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "req-42"
    assert (
        generated.headers["X-Request-ID"] != "not a token\\n" and len(generated.headers["X-Request-ID"]) == 32
    )
    server = next(
        s
        for s in spans.get_finished_spans()
        if s.attributes and s.attributes.get("sillok.request_id") == "req-42"
    )
    assert server.name == "GET /api/v1/documents/{document_id}"
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 404
    for name in ("sillok_http_request_seconds", "sillok_task_seconds"):
        assert f"# TYPE {name} histogram" in metrics
